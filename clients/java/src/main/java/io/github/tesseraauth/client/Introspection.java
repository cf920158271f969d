package io.github.tesseraauth.client;

import java.time.Instant;
import java.util.OptionalLong;

/**
 * Introspect's answer. An inactive token (unknown, expired, revoked, used up) is {@code active ==
 * false} with an empty identity, not an error.
 *
 * @param usesRemaining empty for a token without a use limit
 */
public record Introspection(
    boolean active, Identity identity, Instant issuedAt, OptionalLong usesRemaining) {}
