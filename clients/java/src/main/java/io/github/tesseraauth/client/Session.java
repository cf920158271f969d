package io.github.tesseraauth.client;

import java.time.Instant;

/** Login's answer: a session token and the account it belongs to. */
public record Session(
    Secret token,
    String tokenId,
    String sessionId,
    Instant expiresAt,
    io.github.tesseraauth.tessera.v1.User user) {}
