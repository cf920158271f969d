package io.github.tesseraauth.client;

/**
 * Receives a revocation watch's messages, in order, on the watch's own thread. Only {@link
 * #onRevocation} is required.
 */
public interface RevocationListener {
  /** A revocation (or, with {@link Revocation#checkpoint()}, a position to acknowledge from). */
  void onRevocation(Revocation revocation);

  /**
   * The feed no longer holds the watch's resume point (pruned, or moved backwards by a restore or
   * failover): drop every verdict cached from the feed. The watch then starts over by itself.
   */
  default void onResync(long oldestSequence) {}

  /** A transient failure; the watch reconnects with backoff and resumes where it was. */
  default void onRetry(TesseraException error) {}

  /**
   * A permanent failure (the watch's token refused, revoked, lacking permission): the watch ended.
   */
  default void onError(TesseraException error) {}
}
