package io.github.tesseraauth.client;

import java.time.Instant;
import java.util.List;
import java.util.OptionalLong;

/** IssueToken's (and Unlock's) answer. */
public record IssuedToken(
    Secret token,
    String tokenId,
    Instant expiresAt,
    String namespace,
    List<String> permissions,
    OptionalLong maxUses) {}
