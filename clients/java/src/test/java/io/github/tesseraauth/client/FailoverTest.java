package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.tesseraauth.tessera.v1.TokenInfo;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The failover test of the Go and Python clients: issue, check, revoke and check again in a loop
 * through a client given two TLS replicas (the second requiring a client certificate, so mutual TLS
 * is exercised too); the preferred one is killed midway. Calls move to the other, no revoked token
 * is ever accepted, and no acknowledged revocation is lost.
 */
class FailoverTest {
  static List<String> watchedIds(List<Revocation> watched) {
    synchronized (watched) {
      return watched.stream().filter(r -> !r.checkpoint()).map(Revocation::tokenId).toList();
    }
  }

  @Test
  void failoverWhenAReplicaDiesMidLoad() throws InterruptedException {
    Dev dev = Dev.shared();
    Dev.Pki pki = Dev.Pki.make();
    try (Dev.Replica first = dev.replica(pki, "first");
        Dev.Replica second = dev.replica(pki, "second", "--client-ca", pki.clientCa());
        TesseraClient admin =
            TesseraClient.builder(List.of("https://" + first.addr(), "https://" + second.addr()))
                .tlsFiles(pki.ca(), pki.clientCert(), pki.clientKey())
                .token(dev.adminToken)
                .defaultTimeout(Duration.ofSeconds(20))
                .build()) {
      // Mutual TLS: without a client certificate the second replica refuses the connection.
      try (TesseraClient without =
          TesseraClient.builder("https://" + second.addr())
              .tlsFiles(pki.ca(), null, null)
              .token(dev.serviceToken)
              .defaultTimeout(Duration.ofSeconds(5))
              .build()) {
        TesseraException e =
            org.junit.jupiter.api.Assertions.assertThrows(
                TesseraException.class, () -> without.introspect(dev.serviceToken, true));
        assertEquals(Reason.UNAVAILABLE, e.kind());
      }
      TesseraClient service = admin.withToken(dev.serviceToken);
      // A revocation watch through the same replicas must ride out the kill: it reconnects to the
      // other replica and resumes after the last sequence, so it sees every revocation once.
      List<Revocation> watched = java.util.Collections.synchronizedList(new ArrayList<>());
      List<TesseraException> watchErrors =
          java.util.Collections.synchronizedList(new ArrayList<>());
      Watch watch =
          service.watchRevocations(
              WatchOptions.head().withBackoff(Duration.ofMillis(20), Duration.ofMillis(200)),
              new RevocationListener() {
                @Override
                public void onRevocation(Revocation revocation) {
                  watched.add(revocation);
                }

                @Override
                public void onError(TesseraException error) {
                  watchErrors.add(error);
                }
              });
      List<String> acknowledged = new ArrayList<>();
      int acceptedAfterRevoke = 0;
      int ambiguous = 0;
      long killedAt = 0;
      long failover = 0;
      for (int round = 0; round < 60; round++) {
        if (round == 20) {
          first.process().destroyForcibly();
          killedAt = System.nanoTime();
        }
        IssuedToken issued;
        try {
          issued = admin.issueToken(IssueParams.ttl(Duration.ofMinutes(10)).withMaxUses(5));
        } catch (TesseraException e) {
          // Sent as the replica died: maybe issued, maybe not; never re-sent.
          assertEquals(Reason.UNAVAILABLE, e.kind(), e.toString());
          ambiguous++;
          continue;
        }
        if (killedAt != 0 && failover == 0) {
          failover = System.nanoTime() - killedAt;
        }
        assertTrue(
            service.introspect(issued.token().expose(), true).active(),
            "round " + round + ": a fresh token is not active");
        admin.revoke(RevokeTarget.tokenId(issued.tokenId()), "failover test");
        acknowledged.add(issued.tokenId());
        if (service.introspect(issued.token().expose(), true).active()) {
          acceptedAfterRevoke++;
        }
      }
      assertTrue(failover > 0, "no call succeeded after the kill");
      assertEquals(0, acceptedAfterRevoke, "revoked tokens were accepted");
      assertTrue(ambiguous <= 1, ambiguous + " calls failed; only one in flight at the kill may");
      // Every acknowledged revocation is in the database, as the shared dev server sees it.
      try (TesseraClient check = dev.client(dev.adminToken)) {
        for (String id : acknowledged) {
          TokenInfo info = check.admin().getToken(id);
          assertTrue(info.hasRevokedAt(), "acknowledged revocation of " + id + " lost");
        }
      }
      assertTrue(acknowledged.size() >= 55, "only " + acknowledged.size() + " rounds completed");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (watchedIds(watched).size() < acknowledged.size() && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      watch.close();
      assertTrue(watchErrors.isEmpty(), "the watch ended: " + watchErrors);
      List<String> seen = watchedIds(watched);
      assertEquals(
          new java.util.HashSet<>(seen).size(),
          seen.size(),
          "the watch delivered a revocation twice");
      assertTrue(
          seen.containsAll(acknowledged), "the watch missed revocations across the failover");
      long last = 0;
      for (Revocation r : watched) {
        assertTrue(r.sequence() >= last, "out of order");
        last = r.sequence();
      }
      System.out.printf(
          "java failover: %.1f ms from kill to the next successful call, %d call(s) in flight failed, %d revoked tokens accepted, %d acknowledged revocations kept%n",
          failover / 1e6, ambiguous, acceptedAfterRevoke, acknowledged.size());
    }
  }
}
