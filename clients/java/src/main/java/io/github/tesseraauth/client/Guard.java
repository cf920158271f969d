package io.github.tesseraauth.client;

import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The decision both guards make: CheckNamespace first when the request names identifiers (it never
 * consumes a use, so a refused request does not burn one), then Introspect, which counts a use of a
 * limited-use token and yields the identity. Anything Tessera cannot decide fails closed.
 */
final class Guard {
  private static final Logger LOG = Logger.getLogger(Guard.class.getName());

  enum Verdict {
    ALLOWED,
    NO_TOKEN,
    MALFORMED,
    INVALID_TOKEN,
    OUT_OF_SCOPE,
    BAD_REQUEST,
    UNAVAILABLE
  }

  /** A verdict with what the answer says about it; never a secret. */
  record Decision(Verdict verdict, String detail, Reason reason, String field, Identity identity) {
    static Decision of(Verdict verdict, String detail) {
      return new Decision(verdict, detail, null, "", null);
    }
  }

  private final TesseraClient client;

  Guard(TesseraClient client) {
    this.client = client;
  }

  Decision authorize(String token, Access access) {
    try {
      if (access != null && !access.identifiers().isEmpty()) {
        NamespaceDecision ns = client.checkNamespace(token, access.identifiers(), access.action());
        if (!ns.active()) {
          return Decision.of(Verdict.INVALID_TOKEN, "the token is not active");
        }
        if (!ns.allowed()) {
          return Decision.of(Verdict.OUT_OF_SCOPE, "insufficient namespace scope");
        }
      }
      Introspection info = client.introspect(token);
      if (!info.active()) {
        return Decision.of(Verdict.INVALID_TOKEN, "the token is not active");
      }
      return new Decision(Verdict.ALLOWED, "", null, "", info.identity());
    } catch (TesseraException e) {
      return failure(e);
    }
  }

  /**
   * Bad input the request brought (a malformed token or identifier) is the caller's fault; anything
   * else (Tessera unreachable or busy, the guard's own token refused) fails closed.
   */
  private static Decision failure(TesseraException e) {
    Reason kind = e.kind();
    if (kind == Reason.INVALID_ARGUMENT) {
      if ("token".equals(e.field())) {
        return new Decision(
            Verdict.INVALID_TOKEN, "the token is not active", kind, e.field(), null);
      }
      String detail =
          e.field().isEmpty()
              ? "tessera rejected the request"
              : "tessera rejected field " + e.field();
      return new Decision(Verdict.BAD_REQUEST, detail, kind, e.field(), null);
    }
    LOG.log(Level.WARNING, "tessera could not decide; request refused: {0}", e.getMessage());
    Reason reason = kind == null ? Reason.UNAVAILABLE : kind;
    String detail;
    switch (reason) {
      case AUTH_REQUIRED:
      case AUTH_FAILED:
      case AUTH_DENIED:
      case PRIVILEGE_EXCEEDED:
      case ELEVATION_REQUIRED:
      case OVER_PRIVILEGED:
        // Tessera refused the guard's own token: the operator's problem, not the caller's.
        detail = "the authentication service cannot decide right now";
        break;
      case RESOURCE_EXHAUSTED:
        detail = "the authentication service is busy";
        break;
      default:
        detail = "the authentication service is unavailable";
    }
    return new Decision(Verdict.UNAVAILABLE, detail, reason, "", null);
  }

  static final int MAX_TOKEN_LEN = 4096;

  /**
   * Reads a bearer credential as Tessera's HTTP edge does: another scheme is no bearer token at all
   * (it may be meant for the handler), while a Bearer credential that cannot be a token is
   * malformed. Returns the token, or a refusal.
   */
  static Object bearer(java.util.List<String> values) {
    if (values.isEmpty()) {
      return Decision.of(Verdict.NO_TOKEN, "no token");
    }
    if (values.size() > 1) {
      return malformed("more than one authorization header");
    }
    String value = values.get(0);
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if ((c < 0x20 && c != '\t') || c > 0x7e) {
        return malformed("not text");
      }
    }
    int at = -1;
    for (int i = 0; i < value.length(); i++) {
      if (value.charAt(i) == ' ' || value.charAt(i) == '\t') {
        at = i;
        break;
      }
    }
    String scheme = at < 0 ? value : value.substring(0, at);
    if (!scheme.toLowerCase(Locale.ROOT).equals("bearer")) {
      return Decision.of(Verdict.NO_TOKEN, "no token");
    }
    String rest = at < 0 ? "" : value.substring(at + 1);
    if (at >= 0 && value.charAt(at) == '\t') {
      return malformed("bearer token after a tab");
    }
    if (rest.isEmpty()) {
      return malformed("bearer without a token");
    }
    if (rest.length() > MAX_TOKEN_LEN) {
      return malformed("token too long");
    }
    if (rest.contains(" ") || rest.contains("\t")) {
      return malformed("token contains spaces");
    }
    for (char c : "\"\\,;".toCharArray()) {
      if (rest.indexOf(c) >= 0) {
        return malformed("token contains characters no token has");
      }
    }
    return rest;
  }

  private static Decision malformed(String why) {
    return Decision.of(Verdict.MALFORMED, "malformed authorization header: " + why);
  }
}
