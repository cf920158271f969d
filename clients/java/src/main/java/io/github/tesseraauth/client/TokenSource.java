package io.github.tesseraauth.client;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Supplies the bearer token of each call, e.g. a service token a secret store rotates (the Go SDK's
 * {@code TokenSource}). It is asked once per call, on the thread making the call (and once per
 * connection of a revocation watch), so it should answer quickly: from memory or a small file. An
 * exception it throws fails that call with a {@link TesseraException} of kind {@link
 * Reason#INTERNAL} whose message names the token source; the call is never sent.
 *
 * <pre>{@code
 * TesseraClient tessera = TesseraClient.builder("https://tessera.internal:50051")
 *     .tokenSource(TokenSource.fromFile(Path.of("/run/secrets/tessera-token")))
 *     .build();
 * }</pre>
 */
@FunctionalInterface
public interface TokenSource {
  /** The token for the call about to be made ("" sends none). */
  String token() throws Exception;

  /** The content of {@code file} (UTF-8, surrounding whitespace trimmed), read at every call. */
  static TokenSource fromFile(Path file) {
    return () -> Files.readString(file, StandardCharsets.UTF_8).strip();
  }
}
