package io.github.tesseraauth.client;

import java.time.Instant;
import java.util.List;

/**
 * Who a token speaks for and what it holds, as Introspect says; the guards hand it to handlers.
 *
 * @param subject the account's user id
 * @param tokenType SESSION, ELEVATED, API, SERVICE, STATIC or MASTER
 * @param expiresAt {@code null} for a token that never expires
 */
public record Identity(
    String subject,
    String username,
    String tokenId,
    String tokenType,
    List<String> roles,
    List<String> permissions,
    String namespace,
    boolean elevated,
    String sessionId,
    Instant expiresAt) {

  /** Whether the token holds {@code permission} (or every permission, "*"). */
  public boolean permits(String permission) {
    return permissions.contains("*") || permissions.contains(permission);
  }
}
