// Unary gRPC calls over HTTP/2 connections of the client's own (h2.ts). grpc-js's call stack
// (interceptors, the retrying, load-balancing and resolving calls, filters, Metadata copies) and
// node:http2's per-stream machinery cost a sequential Introspect more CPU than the rest of the call;
// a unary call needs one HTTP/2 stream, a 5-byte frame each way and a status in the trailers. This
// transport keeps what the client promises (replicas in order of preference with pick-first
// failover, TLS checked against each replica's own host name, a deadline on every call, retries of
// the calls safe to repeat, the reason of a failure, trace propagation) and nothing else; watches
// (server streaming) stay on grpc-js (channel.ts).
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { status as Code } from "@grpc/grpc-js";
import { authority, type ServerAddress } from "./address.js";
import { statusError, TesseraError } from "./errors.js";
import { H2_ERROR, H2Connection, H2Stream } from "./h2.js";
import { encodeField, encodeIndexed } from "./hpack.js";
import { clientSpan } from "./tracing.js";

/** A call's headers besides gRPC's own: the bearer token, trace context. */
export type Headers = Readonly<Record<string, string>>;

/** PEM material of a TLS connection (none: Node's default roots, no client certificate). */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Bytes a request frame reserves in front of its message for the gRPC prefix (flag, length). */
export const FRAME_PREFIX = 5;

/** The message in a buffer of its own, FRAME_PREFIX bytes reserved in front, for Transport.unary. */
export function framed(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_PREFIX + message.length);
  frame.set(message, FRAME_PREFIX);
  return frame;
}

/** The retry policy of the calls safe to repeat (channel.ts's RETRIED), in gRPC's terms. */
const RETRY = { maxAttempts: 4, initialBackoffMs: 50, maxBackoffMs: 1000, multiplier: 2 };
/** Re-sends of an attempt that surely never reached a server (a refused stream, a closed connection). */
const MAX_REPLAYS = 5;
/** gRPC's default limit of a received message (grpc-js's too). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** A replica that neither connects nor fails within this gets company: the next one is dialed too. */
const STAGGER_MS = 250;
/** gRPC's minimum connect timeout. */
const CONNECT_TIMEOUT_MS = 20_000;
/** After every replica failed to connect, calls fail at once for this long (doubling, to 10 s). */
const RECONNECT_BACKOFF_MS = { initial: 1000, max: 10_000 };
const USER_AGENT = "tessera-auth-client-node";

/** grpc-timeout: at most eight digits, in the finest unit that fits. */
function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  if (whole < 1e8) return `${whole}m`;
  const seconds = Math.ceil(whole / 1000);
  return seconds < 1e8 ? `${seconds}S` : `${Math.min(Math.ceil(seconds / 3600), 99_999_999)}H`;
}

/** The encoded grpc-timeout fields of the last timeouts: with a default deadline they repeat. */
const timeoutFields = new Map<number, Buffer>();
function timeoutField(ms: number): Buffer {
  const whole = Math.max(1, Math.ceil(ms));
  let field = timeoutFields.get(whole);
  if (field === undefined) {
    if (timeoutFields.size >= 64) timeoutFields.clear();
    timeoutFields.set(whole, (field = encodeField("grpc-timeout", grpcTimeout(whole))));
  }
  return field;
}

/** The code of a response without grpc-status, by its HTTP status (gRPC's HTTP to gRPC mapping). */
function httpCode(status: number): Code {
  switch (status) {
    case 400:
      return Code.INTERNAL;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
      return Code.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.UNAVAILABLE;
    default:
      return Code.UNKNOWN;
  }
}

/** The code of a stream the server reset without a status. */
function resetCode(rst: number): Code {
  switch (rst) {
    case H2_ERROR.REFUSED_STREAM:
      return Code.UNAVAILABLE;
    case H2_ERROR.CANCEL:
      return Code.CANCELLED;
    case H2_ERROR.ENHANCE_YOUR_CALM:
      return Code.RESOURCE_EXHAUSTED;
    case H2_ERROR.INADEQUATE_SECURITY:
      return Code.PERMISSION_DENIED;
    default:
      return Code.INTERNAL;
  }
}

/** grpc-message is percent-encoded UTF-8. */
function statusMessage(raw: string | undefined): string {
  const text = raw ?? "";
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** grpc-status-details-bin: base64 (padded or not), values joined by commas. */
function statusDetails(raw: string | undefined): Buffer[] {
  if (raw === undefined) return [];
  return raw.split(",").map((value) => Buffer.from(value.trim(), "base64"));
}

/** The header fields of every call. */
const GRPC_FIELDS = Buffer.concat([
  encodeField("content-type", "application/grpc"),
  encodeField("te", "trailers"),
  encodeField("user-agent", USER_AGENT),
]);

/** The encoded fields of a call's headers, the bearer token never indexed; HTTP/2 names are lower case. */
function encodeHeaders(headers: Headers): Buffer {
  return Buffer.concat(
    Object.entries(headers).map(([name, value]) => {
      const lower = name.toLowerCase();
      return encodeField(lower, value, lower === "authorization");
    }),
  );
}

/** A fixed token's headers (frozen, the same every call) are encoded once. */
const encodedHeaders = new WeakMap<Headers, Buffer>();
function headerFields(headers: Headers): Buffer {
  if (!Object.isFrozen(headers)) return encodeHeaders(headers);
  let fields = encodedHeaders.get(headers);
  if (fields === undefined) encodedHeaders.set(headers, (fields = encodeHeaders(headers)));
  return fields;
}

function unavailable(message: string, cause?: unknown): TesseraError {
  return new TesseraError(Code.UNAVAILABLE, "", "", message, 0n, cause === undefined ? undefined : { cause });
}

function internal(message: string, cause?: unknown): TesseraError {
  return new TesseraError(Code.INTERNAL, "", "", message, 0n, cause === undefined ? undefined : { cause });
}

interface Replica {
  host: string;
  port: number;
  /** host:port as an error names it and the :authority header carries it. */
  label: string;
  /** The pseudo-header fields every call to it starts with, but :path. */
  fields: Buffer;
}

/** A connection to a replica. */
interface Link {
  conn: H2Connection;
  replica: Replica;
}

/** One call: its deadline, its attempts, and its answer once it has one. */
interface Call<R> {
  readonly path: string;
  readonly frame: Buffer;
  readonly decode: (message: Buffer) => R;
  readonly deadline: number;
  readonly retried: boolean;
  readonly headers: Headers;
  /** Failed attempts the retry policy counts: all but the replays. */
  attempts: number;
  /** Re-sends of attempts that surely never left the client. */
  replays: number;
  timer: NodeJS.Timeout | undefined;
  /** The attempt in flight, to cancel at the deadline. */
  cancel: (() => void) | undefined;
  done: boolean;
  settle(error: TesseraError | undefined, value?: R): void;
}

/**
 * Unary calls to one of several replicas over one HTTP/2 connection at a time. Pick-first: the
 * replicas are dialed in order of preference (the next one also after STAGGER_MS without an answer)
 * and the first to connect carries every call until it goes away; then the next call dials again
 * from the top. Calls safe to repeat (retried) are retried on UNAVAILABLE with backoff; every call is
 * re-sent when it surely never left the client (a stream the server refused, a connection that was
 * already closing).
 */
export class Transport {
  readonly #replicas: readonly Replica[];
  readonly #tls: TlsMaterial | undefined;
  readonly #tracing: boolean;
  readonly #retried: ReadonlySet<string>;
  /** Each path's encoded :path field. */
  readonly #paths = new Map<string, Buffer>();
  #link: Link | undefined;
  #dialing: Promise<Link> | undefined;
  /** After a failed dial: until when calls fail at once, with what, and the next wait. */
  #down: { until: number; message: string; cause: unknown; backoff: number } | undefined;
  /** Calls in flight: the connection keeps the process alive only while there are some. */
  #active = 0;
  #closed = false;

  constructor(addresses: readonly ServerAddress[], tls: TlsMaterial | undefined, retried: ReadonlySet<string>, tracing: boolean) {
    this.#replicas = addresses.map((a) => {
      const label = authority(a);
      const fields = Buffer.concat([
        encodeIndexed(":method", "POST"),
        encodeIndexed(":scheme", tls ? "https" : "http"),
        encodeField(":authority", label),
      ]);
      return { host: a.host, port: a.port, label, fields };
    });
    this.#tls = tls;
    this.#retried = retried;
    this.#tracing = tracing;
  }

  /**
   * One unary call of path: frame holds the request message after FRAME_PREFIX reserved bytes,
   * decode reads the answer's message. The headers may be a promise (a token source answering, within
   * a bound of its own); the deadline (ms since the epoch) is armed once they are at hand.
   */
  unary<R>(path: string, frame: Buffer, decode: (message: Buffer) => R, headers: Headers | Promise<Headers>, deadline: number): Promise<R> {
    frame[0] = 0;
    frame.writeUInt32BE(frame.length - FRAME_PREFIX, 1);
    if (!this.#tracing) {
      if (headers instanceof Promise) return headers.then((h) => this.#start(path, frame, decode, h, deadline));
      return this.#start(path, frame, decode, headers, deadline);
    }
    const span = clientSpan(path);
    const started =
      headers instanceof Promise
        ? headers.then((h) => this.#start(path, frame, decode, span.inject(h), deadline))
        : this.#start(path, frame, decode, span.inject(headers), deadline);
    return started.then(
      (value) => {
        span.end(Code.OK);
        return value;
      },
      (error: unknown) => {
        span.end(error instanceof TesseraError ? error.code : Code.UNKNOWN);
        throw error;
      },
    );
  }

  /** Closes the connection once the calls in flight are answered; later calls fail. */
  close(): void {
    this.#closed = true;
    this.#link?.conn.close();
    this.#link = undefined;
  }

  #start<R>(path: string, frame: Buffer, decode: (message: Buffer) => R, headers: Headers, deadline: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const call: Call<R> = {
        path,
        frame,
        decode,
        deadline,
        retried: this.#retried.has(path),
        headers,
        attempts: 0,
        replays: 0,
        timer: undefined,
        cancel: undefined,
        done: false,
        settle: (error, value) => {
          if (call.done) return;
          call.done = true;
          clearTimeout(call.timer);
          if (--this.#active === 0) this.#link?.conn.unref();
          if (error) reject(error);
          else resolve(value as R);
        },
      };
      const left = deadline - Date.now();
      if (left <= 0) {
        reject(new TesseraError(Code.DEADLINE_EXCEEDED, "", "", "the deadline passed before the call started"));
        return;
      }
      if (this.#active++ === 0) this.#link?.conn.ref();
      call.timer = setTimeout(() => {
        call.cancel?.();
        call.settle(new TesseraError(Code.DEADLINE_EXCEEDED, "", "", `deadline exceeded after ${left} ms`));
      }, left);
      this.#attempt(call);
    });
  }

  /** Sends the call on the connection in use, dialing one when there is none. */
  #attempt<R>(call: Call<R>): void {
    const link = this.#link;
    if (link !== undefined && link.conn.usable) {
      this.#send(call, link);
      return;
    }
    if (this.#closed) {
      call.settle(unavailable("the client is closed: its channel has been shut down"));
      return;
    }
    const down = this.#down;
    if (down && Date.now() < down.until) {
      this.#failed(call, unavailable(down.message, down.cause));
      return;
    }
    this.#dialing ??= this.#dial().finally(() => (this.#dialing = undefined));
    this.#dialing.then(
      (dialed) => {
        if (!call.done) this.#send(call, dialed);
      },
      (error: TesseraError) => this.#failed(call, error),
    );
  }

  /**
   * A failed attempt: re-sent at once when it surely never left the client, retried after a backoff
   * when the call is safe to repeat and the failure is UNAVAILABLE, else the call's answer.
   */
  #failed<R>(call: Call<R>, error: TesseraError, neverLeft = false): void {
    if (call.done) return;
    call.cancel = undefined;
    if (neverLeft && call.replays < MAX_REPLAYS) {
      call.replays++;
      this.#attempt(call);
      return;
    }
    call.attempts++;
    if (!call.retried || error.code !== Code.UNAVAILABLE || call.attempts >= RETRY.maxAttempts) {
      call.settle(error);
      return;
    }
    // gRPC's exponential backoff with full jitter; a wait past the deadline is no retry.
    const wait = Math.random() * Math.min(RETRY.initialBackoffMs * RETRY.multiplier ** (call.attempts - 1), RETRY.maxBackoffMs);
    if (Date.now() + wait >= call.deadline) {
      call.settle(error);
      return;
    }
    const timer = setTimeout(() => {
      call.cancel = undefined;
      if (!call.done) this.#attempt(call);
    }, wait);
    call.cancel = () => clearTimeout(timer);
  }

  #send<R>(call: Call<R>, link: Link): void {
    let path = this.#paths.get(call.path);
    if (path === undefined) this.#paths.set(call.path, (path = encodeField(":path", call.path)));
    // Pseudo-header fields first (RFC 9113 8.3).
    const timeout = timeoutField(call.deadline - Date.now());
    const block = [link.replica.fields, path, GRPC_FIELDS, timeout, headerFields(call.headers)];
    const stream = new H2Stream(block, call.frame, (s) => this.#ended(call, s));
    if (!link.conn.request(stream)) {
      // The connection was closing (a GOAWAY) or spent its stream ids: nothing was sent.
      if (this.#link === link) this.#link = undefined;
      this.#failed(call, unavailable("the connection takes no more calls"), true);
      return;
    }
    call.cancel = () => link.conn.cancel(stream);
  }

  /** A stream's end: the call's answer, or a failed attempt. */
  #ended<R>(call: Call<R>, stream: H2Stream): void {
    if (call.done) return;
    switch (stream.end) {
      case "ended":
        this.#answered(call, stream);
        return;
      case "refused":
        this.#failed(call, unavailable(stream.why || "the server refused the call before processing it"), true);
        return;
      case "lost":
        this.#failed(call, unavailable(`the connection to the server was lost: ${stream.why}`));
        return;
      case "tooLarge":
        call.settle(
          new TesseraError(Code.RESOURCE_EXHAUSTED, "", "", `the response is larger than the limit of ${MAX_RESPONSE_BYTES} bytes`),
        );
        return;
      default: {
        const why = stream.why ? `the stream was reset: ${stream.why}` : `the server reset the stream (HTTP/2 error ${stream.code})`;
        this.#failed(call, new TesseraError(resetCode(stream.code), "", "", why));
      }
    }
  }

  /** A stream the server ended: its status, and with OK its one message. */
  #answered<R>(call: Call<R>, stream: H2Stream): void {
    const head = stream.head!;
    const meta = stream.trailers ?? head;
    const status = meta["grpc-status"];
    if (status === undefined) {
      // Not gRPC's answer: a proxy's error page, or a server that ended the stream early.
      const http = Number(head[":status"]);
      const type = head["content-type"] ?? "";
      if (http !== 200) {
        this.#failed(call, new TesseraError(httpCode(http), "", "", `the server answered HTTP ${http} without a gRPC status`));
      } else if (!type.startsWith("application/grpc")) {
        call.settle(new TesseraError(Code.UNKNOWN, "", "", `the server answered ${type || "no content type"}, not gRPC`));
      } else {
        call.settle(internal("the server ended the stream without a gRPC status"));
      }
      return;
    }
    const code = Number(status);
    if (code !== Code.OK) {
      const error = statusError(
        Number.isInteger(code) && code >= 0 && code <= 16 ? code : Code.UNKNOWN,
        statusMessage(meta["grpc-message"]),
        statusDetails(meta["grpc-status-details-bin"]),
      );
      this.#failed(call, error);
      return;
    }
    const message = stream.chunks ? Buffer.concat(stream.chunks, stream.size) : stream.body;
    if (message === undefined || message.length < FRAME_PREFIX) {
      call.settle(internal("the server answered OK without a response message"));
      return;
    }
    const length = message.readUInt32BE(1);
    if (message[0] !== 0) {
      call.settle(internal("the response is compressed, which this client never asks for"));
      return;
    }
    if (message.length !== FRAME_PREFIX + length) {
      call.settle(internal(`malformed response: one message of ${length} bytes announced, ${message.length - FRAME_PREFIX} received`));
      return;
    }
    let value: R;
    try {
      value = call.decode(message.subarray(FRAME_PREFIX));
    } catch (e) {
      call.settle(internal(`cannot decode the response: ${(e as Error)?.message ?? e}`, e));
      return;
    }
    call.settle(undefined, value);
  }

  /** Dials the replicas in order of preference; the first to connect becomes the connection in use. */
  #dial(): Promise<Link> {
    return new Promise<Link>((resolve, reject) => {
      const replicas = this.#replicas;
      const dialing = new Set<Socket>();
      const failures: string[] = [];
      let causes: unknown;
      let next = 0;
      let settled = false;
      const dialNext = () => {
        if (settled || next >= replicas.length) return;
        const replica = replicas[next++]!;
        const socket = this.#open(replica);
        dialing.add(socket);
        const stagger = setTimeout(dialNext, STAGGER_MS);
        const timeout = setTimeout(() => socket.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
        const fail = (error?: Error) => {
          clearTimeout(stagger);
          clearTimeout(timeout);
          if (!dialing.delete(socket)) return;
          socket.destroy();
          failures.push(`${replica.label}: ${error?.message ?? "the connection closed"}`);
          causes ??= error;
          if (settled) return;
          if (failures.length === replicas.length) {
            settled = true;
            const message = `no replica reachable (${failures.join("; ")})`;
            const backoff = this.#down ? Math.min(this.#down.backoff * 2, RECONNECT_BACKOFF_MS.max) : RECONNECT_BACKOFF_MS.initial;
            // Jittered, so that a fleet of clients does not come back in step.
            this.#down = { until: Date.now() + backoff * (0.8 + Math.random() * 0.4), message, cause: causes, backoff };
            reject(unavailable(message, causes));
          } else {
            dialNext();
          }
        };
        const closed = () => fail();
        const connected = () => {
          clearTimeout(stagger);
          clearTimeout(timeout);
          if (this.#tls && (socket as TLSSocket).alpnProtocol !== "h2") {
            fail(new Error("the server did not agree to HTTP/2 (ALPN)"));
            return;
          }
          if (!dialing.delete(socket)) return;
          socket.off("error", fail);
          socket.off("close", closed);
          if (settled || this.#closed) {
            socket.destroy();
            if (!settled) {
              settled = true;
              reject(unavailable("the client is closed: its channel has been shut down"));
            }
            return;
          }
          settled = true;
          for (const other of dialing) other.destroy();
          dialing.clear();
          resolve(this.#use(replica, socket));
        };
        socket.on("error", fail);
        socket.on("close", closed);
        socket.once(this.#tls ? "secureConnect" : "connect", connected);
      };
      dialNext();
    });
  }

  #open(replica: Replica): Socket {
    const tls = this.#tls;
    const socket = tls
      ? tlsConnect({
          host: replica.host,
          port: replica.port,
          // Each replica's certificate is checked against its own host name (an IP address
          // against the certificate's IP entries: no SNI then).
          servername: isIP(replica.host) ? undefined : replica.host,
          ALPNProtocols: ["h2"],
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
        })
      : netConnect({ host: replica.host, port: replica.port });
    // A request is one small write: it must not wait for the previous one's ACK (Nagle).
    socket.setNoDelay(true);
    return socket;
  }

  /** The connection that carries the calls from now on, until it goes away. */
  #use(replica: Replica, socket: Socket): Link {
    const link: Link = {
      replica,
      conn: new H2Connection(socket, MAX_RESPONSE_BYTES + FRAME_PREFIX, () => {
        if (this.#link === link) this.#link = undefined;
      }),
    };
    this.#link = link;
    this.#down = undefined;
    if (this.#active === 0) link.conn.unref();
    return link;
  }
}
