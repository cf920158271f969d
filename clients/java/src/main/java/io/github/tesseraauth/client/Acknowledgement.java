package io.github.tesseraauth.client;

import java.time.Duration;

/**
 * AcknowledgeRevocations' answer.
 *
 * @param current true when nothing newer than the applied sequence is committed: serve from the
 *     cache for {@code lease}, measured from before the call was sent
 * @param headSequence the newest sequence in the feed
 */
public record Acknowledgement(boolean current, Duration lease, long headSequence) {}
