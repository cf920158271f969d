package io.github.tesseraauth.client;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * One address in the form every Tessera client accepts: {@code host:port} or {@code
 * http://host:port} (plaintext, as the Rust client reads a bare address) or {@code
 * https://host:port} (TLS). Anything else is refused when the client is built, never at the first
 * call.
 */
record ServerAddress(String host, int port, Boolean tls) {
  static final String FORMS =
      "host:port, http://host:port (plaintext) or https://host:port (TLS), e.g. http://127.0.0.1:50051";

  /**
   * {@code tls} is {@code null} for the bare form, which means plaintext unless TLS is configured.
   */
  static ServerAddress parse(String text) {
    String rest = text == null ? "" : text.strip();
    Boolean tls = null;
    if (rest.startsWith("https://")) {
      tls = true;
      rest = rest.substring("https://".length());
    } else if (rest.startsWith("http://")) {
      tls = false;
      rest = rest.substring("http://".length());
    } else if (rest.contains("://")) {
      throw refuse(text, "unknown scheme");
    }
    if (rest.endsWith("/")) {
      rest = rest.substring(0, rest.length() - 1);
    }
    for (int i = 0; i < rest.length(); i++) {
      char c = rest.charAt(i);
      if ("/?#@".indexOf(c) >= 0 || Character.isWhitespace(c)) {
        throw refuse(text, "only host and port, no path, query or user");
      }
    }
    int colon = rest.lastIndexOf(':');
    if (colon < 0) {
      throw refuse(text, "the host or port is missing");
    }
    String host = rest.substring(0, colon);
    String port = rest.substring(colon + 1);
    boolean hostOk;
    if (host.startsWith("[") && host.endsWith("]")) {
      String inner = host.substring(1, host.length() - 1);
      hostOk =
          inner.contains(":")
              && inner.chars().allMatch(c -> Character.digit(c, 16) >= 0 || c == ':' || c == '.');
      if (hostOk) {
        try {
          InetAddress.getByName(inner);
        } catch (UnknownHostException e) {
          hostOk = false;
        }
      }
      host = inner;
    } else {
      hostOk = !host.isEmpty() && !host.contains(":");
    }
    if (!hostOk) {
      throw refuse(text, "the host or port is missing");
    }
    int number;
    try {
      number =
          port.chars().allMatch(Character::isDigit) && !port.isEmpty() && port.length() <= 5
              ? Integer.parseInt(port)
              : -1;
    } catch (NumberFormatException e) {
      number = -1;
    }
    if (number < 1 || number > 65535) {
      throw refuse(text, "the port must be a number from 1 to 65535");
    }
    return new ServerAddress(host, number, tls);
  }

  /** host:port as gRPC dials it (IPv6 hosts in brackets). */
  String authority() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }

  private static TesseraException refuse(String text, String why) {
    return TesseraException.refused(
        Reason.INVALID_ARGUMENT,
        "addr",
        "\"" + text + "\" is not a Tessera address (" + why + "); use " + FORMS);
  }
}
