package io.github.tesseraauth.client;

import io.grpc.Status;

/**
 * The machine-readable cause Tessera puts in {@code google.rpc.ErrorInfo} (domain {@code
 * "tessera"}): the one reason table of {@code proto/tessera/v1/auth.proto}, with the gRPC code each
 * travels with. Branch on it, never on message text.
 */
public enum Reason {
  /** No bearer token where one is needed. */
  AUTH_REQUIRED("AUTH_REQUIRED", Status.Code.UNAUTHENTICATED),
  /** The caller's token is unknown, expired, revoked or used up. */
  AUTH_FAILED("AUTH_FAILED", Status.Code.UNAUTHENTICATED),
  /** The caller's token is good but does not reach this far. */
  AUTH_DENIED("AUTH_DENIED", Status.Code.PERMISSION_DENIED),
  /** Wrong username, password or TOTP code (one answer for all three). */
  INVALID_CREDENTIALS("INVALID_CREDENTIALS", Status.Code.UNAUTHENTICATED),
  /** The password was right; the account needs a TOTP code. */
  MFA_REQUIRED("MFA_REQUIRED", Status.Code.FAILED_PRECONDITION),
  /** Locked for a while after repeated failures. */
  ACCOUNT_LOCKED("ACCOUNT_LOCKED", Status.Code.RESOURCE_EXHAUSTED),
  /** A derived token would exceed its parent. */
  PRIVILEGE_EXCEEDED("PRIVILEGE_EXCEEDED", Status.Code.PERMISSION_DENIED),
  /** An admin action without admin role or elevation. */
  ELEVATION_REQUIRED("ELEVATION_REQUIRED", Status.Code.PERMISSION_DENIED),
  /** A service token holds more than its job needs. */
  OVER_PRIVILEGED("OVER_PRIVILEGED", Status.Code.PERMISSION_DENIED),
  /** Malformed input; {@link TesseraException#field()} names the field. */
  INVALID_ARGUMENT("INVALID_ARGUMENT", Status.Code.INVALID_ARGUMENT),
  /** No account by that name. */
  USER_NOT_FOUND("USER_NOT_FOUND", Status.Code.NOT_FOUND),
  /** The username is taken. */
  USER_EXISTS("USER_EXISTS", Status.Code.ALREADY_EXISTS),
  /** No token with that id. */
  TOKEN_NOT_FOUND("TOKEN_NOT_FOUND", Status.Code.NOT_FOUND),
  /** At capacity (password hashing, streams per caller); retry later. */
  RESOURCE_EXHAUSTED("RESOURCE_EXHAUSTED", Status.Code.RESOURCE_EXHAUSTED),
  /**
   * The revocation feed no longer holds the resume point: drop every verdict cached from it and
   * follow again from the start ({@link TesseraException#oldestSequence()} says where it starts).
   */
  RESYNC_REQUIRED("RESYNC_REQUIRED", Status.Code.FAILED_PRECONDITION),
  /** PostgreSQL unreachable, or the replica is draining; nothing was decided. */
  UNAVAILABLE("UNAVAILABLE", Status.Code.UNAVAILABLE),
  /** A server bug; details go to the server's log only. */
  INTERNAL("INTERNAL", Status.Code.INTERNAL);

  private final String wire;
  private final Status.Code code;

  Reason(String wire, Status.Code code) {
    this.wire = wire;
    this.code = code;
  }

  /** The reason as it travels in ErrorInfo, e.g. {@code "AUTH_FAILED"}. */
  public String wire() {
    return wire;
  }

  /** The gRPC code Tessera answers this reason with. */
  public Status.Code code() {
    return code;
  }

  /** The reason named {@code wire}, or {@code null} for one this client does not know. */
  public static Reason fromWire(String wire) {
    for (Reason reason : values()) {
      if (reason.wire.equals(wire)) {
        return reason;
      }
    }
    return null;
  }

  /** What a failure without a (known) Tessera reason means, judged by its gRPC code alone. */
  static Reason fromCode(Status.Code code) {
    switch (code) {
      case UNAUTHENTICATED:
        return AUTH_FAILED;
      case PERMISSION_DENIED:
        return AUTH_DENIED;
      case INVALID_ARGUMENT:
        return INVALID_ARGUMENT;
      case RESOURCE_EXHAUSTED:
        return RESOURCE_EXHAUSTED;
      case UNAVAILABLE:
        return UNAVAILABLE;
      case INTERNAL:
      case UNKNOWN:
      case DATA_LOSS:
        return INTERNAL;
      default:
        return null;
    }
  }
}
