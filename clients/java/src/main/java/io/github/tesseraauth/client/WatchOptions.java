package io.github.tesseraauth.client;

import java.time.Duration;

/**
 * Where a revocation watch starts and how it waits between reconnects.
 *
 * @param afterSequence stream revocations above this (0: every one the server retains)
 * @param afterAnchor the anchor of the revocation at afterSequence, as a stream gave it; the server
 *     then checks its feed still holds that very revocation there ("" to skip the check)
 * @param fromHead start at the newest revocation: the first message is a checkpoint naming it
 */
public record WatchOptions(
    long afterSequence,
    String afterAnchor,
    boolean fromHead,
    Duration minBackoff,
    Duration maxBackoff) {

  private static final Duration MIN = Duration.ofMillis(100);
  private static final Duration MAX = Duration.ofSeconds(5);

  /** Replay every retained revocation, then follow. */
  public static WatchOptions replay() {
    return new WatchOptions(0, "", false, MIN, MAX);
  }

  /** Resume after a position a stream gave (its sequence and anchor). */
  public static WatchOptions after(long sequence, String anchor) {
    return new WatchOptions(sequence, anchor == null ? "" : anchor, false, MIN, MAX);
  }

  /** Start at the newest revocation (a checkpoint comes first), as a fresh cache does. */
  public static WatchOptions head() {
    return new WatchOptions(0, "", true, MIN, MAX);
  }

  /** Waits min at first after a failure, doubling up to max while failures repeat (100 ms, 5 s). */
  public WatchOptions withBackoff(Duration min, Duration max) {
    return new WatchOptions(
        afterSequence, afterAnchor, fromHead, min, max.compareTo(min) < 0 ? min : max);
  }
}
