package io.github.tesseraauth.client;

import com.google.protobuf.Timestamp;
import io.github.tesseraauth.tessera.v1.CheckNamespaceResponse;
import io.github.tesseraauth.tessera.v1.IdentifierDecision;
import io.github.tesseraauth.tessera.v1.IntrospectResponse;
import io.github.tesseraauth.tessera.v1.TokenType;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/** Wire types to the client's own. */
final class Convert {
  private Convert() {}

  static Instant instant(Timestamp ts) {
    return Instant.ofEpochSecond(ts.getSeconds(), ts.getNanos());
  }

  static Timestamp timestamp(Instant at) {
    return Timestamp.newBuilder().setSeconds(at.getEpochSecond()).setNanos(at.getNano()).build();
  }

  static String tokenType(TokenType type) {
    String name = type.name();
    return name.startsWith("TOKEN_TYPE_") ? name.substring("TOKEN_TYPE_".length()) : name;
  }

  static Introspection introspection(IntrospectResponse r) {
    Identity identity =
        new Identity(
            r.getSubject(),
            r.getUsername(),
            r.getTokenId(),
            tokenType(r.getTokenType()),
            List.copyOf(r.getRolesList()),
            List.copyOf(r.getPermissionsList()),
            r.getNamespace(),
            r.getElevated(),
            r.getSessionId(),
            r.hasExpiresAt() ? instant(r.getExpiresAt()) : null);
    return new Introspection(
        r.getActive(),
        identity,
        r.hasIssuedAt() ? instant(r.getIssuedAt()) : null,
        r.hasUsesRemaining()
            ? OptionalLong.of(Integer.toUnsignedLong(r.getUsesRemaining()))
            : OptionalLong.empty());
  }

  static NamespaceDecision decision(CheckNamespaceResponse r) {
    Map<String, Boolean> results = new LinkedHashMap<>();
    for (IdentifierDecision d : r.getResultsList()) {
      results.put(d.getIdentifier(), d.getAllowed());
    }
    return new NamespaceDecision(
        r.getActive(), r.getAllowed(), r.getNamespace(), r.getTokenId(), results);
  }

  /**
   * The server's TTL grammar: whole seconds, largest unit first (w, d, h, m, s); "" for the
   * server's default. Fractions of a second are dropped: a token never outlives what was asked for.
   */
  static String ttl(Duration d) {
    if (d == null || d.isZero()) {
      return "";
    }
    if (d.isNegative() || d.compareTo(Duration.ofSeconds(1)) < 0) {
      throw TesseraException.refused(
          Reason.INVALID_ARGUMENT, "ttl", "ttl must be at least one second, got " + d);
    }
    long s = d.toSeconds();
    long[] lengths = {7 * 86400, 86400, 3600, 60, 1};
    String[] units = {"w", "d", "h", "m", "s"};
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < lengths.length; i++) {
      long n = s / lengths[i];
      if (n > 0) {
        out.append(n).append(units[i]);
        s -= n * lengths[i];
      }
    }
    return out.toString();
  }
}
