import { status as Code, type Client, type ClientReadableStream, type Metadata } from "@grpc/grpc-js";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { fromGrpcError, TesseraError } from "./errors.js";
import { serverStream } from "./rpc.js";
import type { Revocation } from "./types.js";
import { AuthService, type WatchRevocationsResponse } from "./gen/tessera/v1/auth_pb.js";

/** Where a revocation watch starts and how it waits between reconnects. */
export interface WatchOptions {
  /** Stream revocations above this (0n or omitted: every one the server retains). */
  afterSequence?: bigint;
  /** The anchor of the revocation at afterSequence, as a stream gave it; the server checks it. */
  afterAnchor?: string;
  /** Start at the newest revocation: the first message is a checkpoint naming it. */
  fromHead?: boolean;
  /** Wait after a failure, doubling while failures repeat (defaults 100 and 5000 ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Receives a watch's messages, in order. Only onRevocation is required. */
export interface WatchHandlers {
  /** A revocation (or, with checkpoint, a position to acknowledge from). */
  onRevocation(revocation: Revocation): void | Promise<void>;
  /** The feed no longer holds the resume point: drop every verdict cached from it; the watch starts over. */
  onResync?(oldestSequence: bigint): void;
  /** A transient failure; the watch reconnects with backoff and resumes where it was. */
  onRetry?(error: TesseraError): void;
  /** A permanent failure (the watch's token refused, revoked, lacking permission): the watch ended. */
  onError?(error: TesseraError): void;
}

/** Failures a watch rides out by reconnecting. */
export function retryable(e: TesseraError): boolean {
  if (e.reason) return e.reason === "UNAVAILABLE" || e.reason === "RESOURCE_EXHAUSTED";
  return [Code.UNAVAILABLE, Code.INTERNAL, Code.UNKNOWN, Code.ABORTED, Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED].includes(e.code);
}

/**
 * A running revocation watch: it reconnects by itself with backoff and resumes after the last
 * position it delivered, so nothing is missed or repeated. close() stops it; done settles then.
 */
export class Watch {
  #lastSequence: bigint;
  #lastAnchor: string;
  #closed = false;
  #stream: ClientReadableStream<WatchRevocationsResponse> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  /** Settles when the watch ends (closed, or a permanent failure). */
  readonly done: Promise<void>;

  constructor(
    private readonly grpc: Client,
    private readonly metadata: () => Metadata | Promise<Metadata>,
    private readonly options: WatchOptions,
    private readonly handlers: WatchHandlers,
  ) {
    this.#lastSequence = options.afterSequence ?? 0n;
    this.#lastAnchor = options.afterAnchor ?? "";
    this.done = this.#run();
  }

  get lastSequence(): bigint {
    return this.#lastSequence;
  }

  get lastAnchor(): string {
    return this.#lastAnchor;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#stream?.cancel();
    clearTimeout(this.#timer);
    this.#wake?.();
    return this.done;
  }

  async #run(): Promise<void> {
    const min = this.options.minBackoffMs ?? 100;
    const max = Math.max(this.options.maxBackoffMs ?? 5000, min);
    let fromHead = this.options.fromHead ?? false;
    let wait = min;
    while (!this.#closed) {
      const head = { value: fromHead };
      const { progressed, error } = await this.#follow(head);
      fromHead = head.value;
      if (this.#closed) return;
      if (error?.kind === "RESYNC_REQUIRED") {
        // Never resume past a gap: start over once the consumer has dropped its cache.
        this.#lastSequence = 0n;
        this.#lastAnchor = "";
        fromHead = this.options.fromHead ?? false;
        this.handlers.onResync?.(error.oldestSequence);
        wait = min;
        continue;
      }
      if (error && !retryable(error)) {
        this.handlers.onError?.(error);
        return;
      }
      if (error) this.handlers.onRetry?.(error);
      if (progressed) wait = min;
      // Full jitter keeps a fleet of followers from reconnecting in lockstep after an outage.
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, wait / 2 + Math.random() * (wait / 2));
      });
      wait = Math.min(wait * 2, max);
    }
  }

  async #follow(head: { value: boolean }): Promise<{ progressed: boolean; error: TesseraError | undefined }> {
    const request = head.value ? { fromHead: true } : { afterSequence: this.#lastSequence, afterAnchor: this.#lastAnchor };
    let metadata: Metadata;
    try {
      metadata = await this.metadata();
    } catch (e) {
      // The token source failed: retried with backoff like a transport failure (onRetry sees it).
      return { progressed: false, error: fromGrpcError(e) };
    }
    if (this.#closed) return { progressed: false, error: undefined };
    const stream = serverStream(this.grpc, AuthService.method.watchRevocations, request, metadata);
    this.#stream = stream;
    let progressed = false;
    let failed: TesseraError | undefined;
    return new Promise((resolve) => {
      // Deliver in order, one at a time: a handler that returns a promise holds the stream.
      let chain = Promise.resolve();
      stream.on("data", (msg: WatchRevocationsResponse) => {
        progressed = true;
        chain = chain.then(async () => {
          if (failed || this.#closed) return;
          if (!head.value && msg.sequence <= this.#lastSequence) return; // already delivered before a reconnect
          head.value = false;
          this.#lastSequence = msg.sequence;
          this.#lastAnchor = msg.anchor;
          try {
            await this.handlers.onRevocation({
              sequence: msg.sequence,
              tokenId: msg.tokenId,
              tokenHash: msg.tokenHash,
              revokedAt: msg.revokedAt ? timestampDate(msg.revokedAt) : undefined,
              anchor: msg.anchor,
              checkpoint: msg.checkpoint,
            });
          } catch (e) {
            // The handler failed: the watch cannot know what it applied, so it stops.
            failed = new TesseraError(Code.INTERNAL, "", "", `handler failed: ${String(e)}`, 0n, { cause: e });
            this.#closed = true;
            stream.cancel();
            this.handlers.onError?.(failed);
          }
        });
      });
      stream.on("error", (e) => {
        void chain.then(() => resolve({ progressed, error: this.#closed ? undefined : fromGrpcError(e) }));
      });
      stream.on("end", () => {
        // The server ended the stream cleanly: reconnect.
        void chain.then(() => resolve({ progressed, error: undefined }));
      });
    });
  }
}
