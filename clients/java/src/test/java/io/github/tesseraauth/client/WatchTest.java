package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The revocation feed: replay, head checkpoints, resume with anchors, resync, acknowledgements. */
class WatchTest {
  static final long WAIT = 30;

  /** Everything a watch reports, in order. */
  static final class Events implements RevocationListener {
    final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();

    @Override
    public void onRevocation(Revocation revocation) {
      queue.add(revocation);
    }

    @Override
    public void onResync(long oldestSequence) {
      queue.add("resync");
    }

    @Override
    public void onError(TesseraException error) {
      queue.add(error);
    }

    Object next() throws InterruptedException {
      Object event = queue.poll(WAIT, TimeUnit.SECONDS);
      assertNotNull(event, "nothing from the watch within " + WAIT + " s");
      return event;
    }

    /**
     * The next revocation of tokenId, skipping others (the shared server revokes in other tests
     * too).
     */
    Revocation revocationOf(String tokenId) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT);
      while (System.nanoTime() < deadline) {
        Object event = next();
        if (event instanceof TesseraException) {
          throw (TesseraException) event;
        }
        if (event instanceof Revocation && tokenId.equals(((Revocation) event).tokenId())) {
          return (Revocation) event;
        }
      }
      throw new AssertionError("no revocation of " + tokenId);
    }
  }

  @Test
  void watchDeliversResumesAndResyncs() throws InterruptedException {
    Dev dev = Dev.shared();
    try (TesseraClient admin = dev.client(dev.adminToken)) {
      TesseraClient service = admin.withToken(dev.serviceToken);
      Events head = new Events();
      try (Watch fromHead = service.watchRevocations(WatchOptions.head(), head)) {
        Revocation checkpoint = (Revocation) head.next();
        assertTrue(checkpoint.checkpoint(), "a watch from the head starts with a checkpoint");
        assertFalse(checkpoint.anchor().isEmpty());

        IssuedToken token = admin.issueToken(IssueParams.ttl(Duration.ofMinutes(10)));
        admin.revoke(RevokeTarget.tokenId(token.tokenId()), "watch test");
        Revocation rev = head.revocationOf(token.tokenId());
        assertFalse(rev.checkpoint());
        assertEquals(64, rev.tokenHash().length());
        assertTrue(rev.sequence() > checkpoint.sequence());
        assertEquals(rev.sequence(), fromHead.lastSequence());

        Acknowledgement ack =
            service.acknowledgeRevocations(
                UUID.randomUUID().toString(),
                rev.sequence(),
                rev.anchor(),
                "java watch test",
                false);
        assertTrue(ack.current());
        assertTrue(ack.lease().compareTo(Duration.ZERO) > 0);
        assertTrue(ack.headSequence() >= rev.sequence());

        // Resuming after that revocation delivers the next one only.
        IssuedToken second = admin.issueToken(IssueParams.ttl(Duration.ofMinutes(10)));
        admin.revoke(RevokeTarget.tokenId(second.tokenId()), "watch test");
        Events resumed = new Events();
        String secondAnchor;
        try (Watch after =
            service.watchRevocations(WatchOptions.after(rev.sequence(), rev.anchor()), resumed)) {
          Revocation next = (Revocation) resumed.next();
          assertTrue(
              next.sequence() > rev.sequence(),
              "nothing at or before the resume point is repeated");
          assertEquals(second.tokenId(), next.tokenId());
          secondAnchor = next.anchor();
        }

        // A resume point the feed does not hold (another revocation's anchor at that sequence, as
        // after a
        // restore): resync, then replay from 0.
        Events resync = new Events();
        try (Watch wrong =
            service.watchRevocations(
                WatchOptions.after(rev.sequence(), secondAnchor)
                    .withBackoff(Duration.ofMillis(20), Duration.ofMillis(100)),
                resync)) {
          assertEquals("resync", resync.next());
          Revocation replayed = (Revocation) resync.next();
          assertTrue(
              replayed.sequence() <= rev.sequence(),
              "after a resync the watch replays the retained feed");
        }
      }

      // A permanent failure ends the watch: a token without introspect.
      IssuedToken noIntrospect =
          admin.issueToken(
              IssueParams.ttl(Duration.ofMinutes(10)).withPermissions(List.of("issue")));
      Events denied = new Events();
      try (Watch w =
          admin
              .withToken(noIntrospect.token().expose())
              .watchRevocations(WatchOptions.replay(), denied)) {
        Object event = denied.next();
        assertTrue(event instanceof TesseraException, String.valueOf(event));
        assertEquals(Reason.AUTH_DENIED, ((TesseraException) event).reason());
      }
    }
  }
}
