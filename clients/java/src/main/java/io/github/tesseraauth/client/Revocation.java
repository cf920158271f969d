package io.github.tesseraauth.client;

import java.time.Instant;

/**
 * One message of the revocation feed.
 *
 * @param anchor what identifies this revocation at this sequence; hand it back to resume and to
 *     acknowledge
 * @param checkpoint true for a position only (no revocation): tokenId, tokenHash and revokedAt are
 *     empty
 * @param tokenHash lowercase hex SHA-256 of the token secret, the key a cache holds
 */
public record Revocation(
    long sequence,
    String tokenId,
    String tokenHash,
    Instant revokedAt,
    String anchor,
    boolean checkpoint) {}
