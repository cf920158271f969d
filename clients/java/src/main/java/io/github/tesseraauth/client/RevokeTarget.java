package io.github.tesseraauth.client;

import io.github.tesseraauth.tessera.v1.RevokeRequest;
import io.github.tesseraauth.tessera.v1.TokenIds;
import java.util.List;
import java.util.function.Consumer;

/** What Revoke revokes (with everything derived from it). */
public final class RevokeTarget {
  final Consumer<RevokeRequest.Builder> apply;

  private RevokeTarget(Consumer<RevokeRequest.Builder> apply) {
    this.apply = apply;
  }

  /** A token by its secret; holding the secret is authority enough to revoke it. */
  public static RevokeTarget token(String secret) {
    return new RevokeTarget(b -> b.setToken(secret));
  }

  /** A token by its public id. */
  public static RevokeTarget tokenId(String id) {
    return new RevokeTarget(b -> b.setTokenId(id));
  }

  /** Many tokens by id, in one transaction (at most 1000). */
  public static RevokeTarget tokenIds(List<String> ids) {
    return new RevokeTarget(b -> b.setTokenIds(TokenIds.newBuilder().addAllIds(ids)));
  }

  /** A session and everything derived from it. */
  public static RevokeTarget session(String sessionId) {
    return new RevokeTarget(b -> b.setSessionId(sessionId));
  }

  /** Every token of an account (its user id). */
  public static RevokeTarget subject(String userId) {
    return new RevokeTarget(b -> b.setSubject(userId));
  }
}
