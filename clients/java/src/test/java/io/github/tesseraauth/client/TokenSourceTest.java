package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A token source as a service uses one: the token lives in a file a secret store rewrites, and
 * every call reads it, so a rotated token is used at once.
 */
class TokenSourceTest {
  @Test
  void rotatedTokenIsUsedAtOnceAndAFailingSourceIsAClearError() throws Exception {
    Dev dev = Dev.shared();
    Path file = Files.createTempFile(Dev.scratch(), "rotated-token", "");
    try (TesseraClient admin = dev.client(dev.adminToken);
        TesseraClient rotating =
            TesseraClient.builder("http://" + dev.grpcAddr)
                .tokenSource(TokenSource.fromFile(file))
                .defaultTimeout(Duration.ofSeconds(5))
                .build();
        TesseraClient broken =
            TesseraClient.builder("http://" + dev.grpcAddr)
                .tokenSource(
                    () -> {
                      throw new IOException("secret store sealed");
                    })
                .build()) {
      Files.writeString(file, admin.login("alice", Dev.ALICE_PASSWORD).token().expose() + "\n");
      assertEquals("alice", caller(admin, rotating));
      Files.writeString(file, admin.login(dev.adminUsername, dev.adminPassword).token().expose());
      assertEquals(dev.adminUsername, caller(admin, rotating), "the rotated token was not used");
      assertFalse(rotating.admin().listUsers().isEmpty(), "admin calls use the source too");

      TesseraException failed =
          assertTimeoutPreemptively(
              Duration.ofSeconds(5),
              () ->
                  assertThrows(
                      TesseraException.class, () -> broken.issueToken(IssueParams.ttl(null))));
      assertEquals(Reason.INTERNAL, failed.kind());
      assertTrue(
          failed.getMessage().contains("token source failed")
              && failed.getMessage().contains("secret store sealed"),
          failed.getMessage());
      ExecutionException async =
          assertThrows(
              ExecutionException.class, () -> broken.introspectAsync("x").get(5, TimeUnit.SECONDS));
      assertEquals(Status.Code.INTERNAL, ((TesseraException) async.getCause()).code());

      // A watch asks at each connection; the source's failures are retried and reported.
      CompletableFuture<TesseraException> retried = new CompletableFuture<>();
      try (Watch watch =
          broken.watchRevocations(
              WatchOptions.head().withBackoff(Duration.ofMillis(10), Duration.ofMillis(50)),
              new RevocationListener() {
                @Override
                public void onRevocation(Revocation revocation) {}

                @Override
                public void onRetry(TesseraException error) {
                  retried.complete(error);
                }
              })) {
        assertTrue(retried.get(5, TimeUnit.SECONDS).getMessage().contains("secret store sealed"));
      }
    }
  }

  /** Who a call ran as: the account of the token it derives. */
  private static String caller(TesseraClient admin, TesseraClient rotating) {
    IssuedToken issued = rotating.issueToken(IssueParams.ttl(Duration.ofMinutes(1)));
    return admin.introspect(issued.token().expose(), true).identity().username();
  }
}
