package io.github.tesseraauth.client;

import io.github.tesseraauth.tessera.v1.AuthServiceGrpc;
import io.github.tesseraauth.tessera.v1.WatchRevocationsRequest;
import io.github.tesseraauth.tessera.v1.WatchRevocationsResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A running revocation watch: it reconnects by itself with backoff and resumes after the last
 * position it delivered (sequence and anchor), so nothing is missed or repeated; on RESYNC_REQUIRED
 * it calls {@link RevocationListener#onResync} and starts over. Close it to stop.
 */
public final class Watch implements AutoCloseable {
  private final Supplier<AuthServiceGrpc.AuthServiceBlockingStub> stubs;
  private final WatchOptions options;
  private final RevocationListener listener;
  private final Thread thread;
  private volatile boolean closed;
  private volatile Context.CancellableContext current;
  private volatile long lastSequence;
  private volatile String lastAnchor;

  Watch(
      Supplier<AuthServiceGrpc.AuthServiceBlockingStub> stubs,
      WatchOptions options,
      RevocationListener listener) {
    this.stubs = stubs;
    this.options = options;
    this.listener = listener;
    this.lastSequence = options.afterSequence();
    this.lastAnchor = options.afterAnchor();
    this.thread = new Thread(this::run, "tessera-watch");
    this.thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  /** The sequence of the last message delivered (or where the watch started). */
  public long lastSequence() {
    return lastSequence;
  }

  /** The anchor of the last message delivered. */
  public String lastAnchor() {
    return lastAnchor;
  }

  /** Whether the watch still runs (false after close or a permanent failure). */
  public boolean isRunning() {
    return thread.isAlive();
  }

  @Override
  public void close() {
    closed = true;
    Context.CancellableContext ctx = current;
    if (ctx != null) {
      ctx.cancel(null);
    }
    thread.interrupt();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void run() {
    boolean fromHead = options.fromHead();
    Duration wait = options.minBackoff();
    while (!closed) {
      boolean[] progressed = {false};
      boolean[] head = {fromHead};
      Context.CancellableContext ctx = Context.current().withCancellation();
      current = ctx;
      TesseraException failure;
      try {
        ctx.run(() -> follow(head, progressed));
        failure = null; // the server ended the stream: reconnect
      } catch (StatusRuntimeException e) {
        failure = TesseraException.from(e);
      } catch (RuntimeException e) {
        // The listener threw: the watch cannot know what it applied, so it stops.
        failure =
            TesseraException.from(
                Status.INTERNAL
                    .withDescription("listener failed: " + e)
                    .withCause(e)
                    .asRuntimeException());
        if (!closed) {
          listener.onError(failure);
        }
        return;
      } finally {
        ctx.cancel(null);
      }
      fromHead = head[0];
      if (closed) {
        return;
      }
      if (failure != null && failure.kind() == Reason.RESYNC_REQUIRED) {
        // Never resume past a gap: start over once the consumer has dropped its cache.
        lastSequence = 0;
        lastAnchor = "";
        fromHead = options.fromHead();
        listener.onResync(failure.oldestSequence());
        wait = options.minBackoff();
        continue;
      }
      if (failure != null && !retryable(failure)) {
        listener.onError(failure);
        return;
      }
      if (failure != null) {
        listener.onRetry(failure);
      }
      if (progressed[0]) {
        wait = options.minBackoff();
      }
      // Full jitter keeps a fleet of followers from reconnecting in lockstep after an outage.
      long millis = wait.toMillis();
      long sleep = millis / 2 + ThreadLocalRandom.current().nextLong(millis / 2 + 1);
      try {
        Thread.sleep(sleep);
      } catch (InterruptedException e) {
        return;
      }
      Duration doubled = wait.multipliedBy(2);
      wait = doubled.compareTo(options.maxBackoff()) > 0 ? options.maxBackoff() : doubled;
    }
  }

  private void follow(boolean[] head, boolean[] progressed) {
    WatchRevocationsRequest.Builder request = WatchRevocationsRequest.newBuilder();
    if (head[0]) {
      request.setFromHead(true);
    } else {
      request.setAfterSequence(lastSequence).setAfterAnchor(lastAnchor);
    }
    Iterator<WatchRevocationsResponse> stream = stubs.get().watchRevocations(request.build());
    while (stream.hasNext()) {
      WatchRevocationsResponse msg = stream.next();
      progressed[0] = true;
      if (!head[0] && msg.getSequence() <= lastSequence) {
        continue; // already delivered before a reconnect
      }
      head[0] = false;
      lastSequence = msg.getSequence();
      lastAnchor = msg.getAnchor();
      listener.onRevocation(
          new Revocation(
              msg.getSequence(),
              msg.getTokenId(),
              msg.getTokenHash(),
              msg.hasRevokedAt() ? Convert.instant(msg.getRevokedAt()) : null,
              msg.getAnchor(),
              msg.getCheckpoint()));
    }
  }

  /** Failures a watch rides out by reconnecting. */
  static boolean retryable(TesseraException e) {
    if (e.reason() != null) {
      return e.reason() == Reason.UNAVAILABLE || e.reason() == Reason.RESOURCE_EXHAUSTED;
    }
    switch (e.code()) {
      case UNAVAILABLE:
      case INTERNAL:
      case UNKNOWN:
      case ABORTED:
      case RESOURCE_EXHAUSTED:
      case DEADLINE_EXCEEDED:
        return true;
      default:
        return false;
    }
  }
}
