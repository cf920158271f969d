// The client side of HTTP/2 (RFC 9113) that unary gRPC calls need, over a connected socket (TCP,
// or TLS that agreed on h2). node:http2 spends more CPU per stream than the rest of a call (a
// Duplex per stream, an AsyncResource bound per request, event emitters, header objects); here a
// stream is a small record whose request goes out as one write and whose answer is collected as the
// frames arrive. What it implements: the preface and settings, HEADERS with CONTINUATION, DATA with
// padding, flow control both ways, the peer's concurrency limit, RST_STREAM, PING, GOAWAY. What it
// refuses: server push (disabled in its settings), frames over the default maximum size.
import type { Socket } from "node:net";
import { HpackDecoder, type Fields } from "./hpack.js";

const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

/** HTTP/2 error codes (RFC 9113 7). */
export const H2_ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  FLOW_CONTROL_ERROR: 0x3,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
} as const;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const DEFAULT_WINDOW = 65_535;
/** The largest frame this client accepts: the protocol's default, which it never raises. */
const MAX_FRAME = 16_384;
const MAX_WINDOW = 2 ** 31 - 1;
const MAX_STREAM_ID = 2 ** 31 - 1;
/** Each stream's receive window: above the largest answer a call accepts, so never replenished. */
const STREAM_WINDOW = 8 * 1024 * 1024;
/** The connection's receive window, replenished once half of it was used. */
const CONNECTION_WINDOW = 64 * 1024 * 1024;
/** A header block larger than this (CONTINUATIONs included) ends the connection. */
const MAX_HEADER_BLOCK = 256 * 1024;

/** How a stream ended. */
export type StreamEnd =
  /** The server ended it (END_STREAM): its answer is complete. */
  | "ended"
  /** The server reset it (RST_STREAM, code). */
  | "reset"
  /** The connection failed under it (why): the request may have reached the server. */
  | "lost"
  /** Never processed: refused (REFUSED_STREAM), above a GOAWAY's last stream, or never sent. */
  | "refused"
  /** The answer grew past the limit; the stream was cancelled. */
  | "tooLarge";

/** One request and what came back for it. */
export class H2Stream {
  id = 0;
  /** The response's headers, then the trailers (none in a trailers-only answer). */
  head: Fields | undefined;
  trailers: Fields | undefined;
  /** The DATA received: the first chunk, and every chunk once there are more. */
  body: Buffer | undefined;
  chunks: Buffer[] | undefined;
  size = 0;
  end: StreamEnd | undefined;
  code = 0;
  why = "";
  sendWindow = 0;
  /** Request bytes flow control held back. */
  unsent: Buffer | undefined;

  constructor(
    /** The request's header block (HPACK), in parts. */
    readonly block: readonly Buffer[],
    /** The request's body, sent with END_STREAM. */
    readonly payload: Buffer,
    readonly onEnd: (stream: H2Stream) => void,
  ) {}
}

function frameHeader(out: Buffer, at: number, length: number, type: number, flags: number, id: number): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(id, at + 5);
}

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  frameHeader(out, 0, payload.length, type, flags, id);
  payload.copy(out, 9);
  return out;
}

function u32(...values: number[]): Buffer {
  const out = Buffer.allocUnsafe(4 * values.length);
  values.forEach((v, i) => out.writeUInt32BE(v, 4 * i));
  return out;
}

/** The client's preface, its settings (no push, the stream window) and the connection window. */
const OPENING = (() => {
  const settings = Buffer.allocUnsafe(12);
  settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
  settings.writeUInt32BE(0, 2);
  settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
  settings.writeUInt32BE(STREAM_WINDOW, 8);
  return Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, settings), frame(WINDOW_UPDATE, 0, 0, u32(CONNECTION_WINDOW - DEFAULT_WINDOW))]);
})();

/**
 * One HTTP/2 connection: starts streams, routes the server's frames to them, and ends each stream
 * exactly once (H2Stream.onEnd). gone is called once, when the connection takes no more streams
 * (a GOAWAY, close(), or the connection failing).
 */
export class H2Connection {
  readonly #socket: Socket;
  readonly #decoder = new HpackDecoder();
  readonly #maxBody: number;
  readonly #gone: () => void;
  readonly #streams = new Map<number, H2Stream>();
  /** Streams over the server's concurrency limit, sent as others end. */
  readonly #queued: H2Stream[] = [];
  /** Streams with request bytes flow control held back. */
  readonly #blocked = new Set<H2Stream>();
  #nextId = 1;
  #maxStreams = Infinity;
  #maxFrame = MAX_FRAME;
  #initialWindow = DEFAULT_WINDOW;
  #sendWindow = DEFAULT_WINDOW;
  #received = 0;
  /** The last stream the server will process, after a GOAWAY. */
  #lastStream: number | undefined;
  #closing = false;
  #corked = false;
  #dead = false;
  #goneCalled = false;
  /** The unparsed end of what was read (a partial frame). */
  #rest: Buffer | undefined;
  /** A header block waiting for its CONTINUATION frames. */
  #continued: { id: number; endStream: boolean; parts: Buffer[]; size: number } | undefined;

  constructor(socket: Socket, maxBody: number, gone: () => void) {
    this.#socket = socket;
    this.#maxBody = maxBody;
    this.#gone = gone;
    socket.on("data", (chunk: Buffer) => this.#read(chunk));
    socket.on("error", (e: Error) => this.#lost(e.message));
    socket.on("close", () => this.#lost("the connection closed"));
    socket.write(OPENING);
  }

  /** Whether new streams may start here. */
  get usable(): boolean {
    return !this.#dead && !this.#closing && this.#lastStream === undefined && this.#nextId <= MAX_STREAM_ID;
  }

  /** Starts a stream (or queues it under the server's limit); false when the connection takes none. */
  request(stream: H2Stream): boolean {
    if (!this.usable) return false;
    if (this.#streams.size >= this.#maxStreams) this.#queued.push(stream);
    else this.#start(stream);
    return true;
  }

  /** Gives up a stream: the server is told (RST_STREAM CANCEL) and anything more for it dropped. */
  cancel(stream: H2Stream): void {
    if (stream.end !== undefined) return;
    stream.end = "reset";
    stream.code = H2_ERROR.CANCEL;
    if (stream.id === 0) {
      this.#queued.splice(this.#queued.indexOf(stream), 1);
      return;
    }
    this.#write(frame(RST_STREAM, 0, stream.id, u32(H2_ERROR.CANCEL)));
    this.#forget(stream);
  }

  /** Takes no more streams, and closes once those running have ended. */
  close(): void {
    this.#closing = true;
    this.#goneOnce();
    this.#maybeEnd();
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  /**
   * Writes are gathered until the current turn of the event loop is done: calls started together
   * (the next ones after a burst of answers) leave in one system call.
   */
  #write(bytes: Buffer): void {
    if (this.#dead) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#socket.write(bytes);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #start(stream: H2Stream): void {
    const id = this.#nextId;
    this.#nextId += 2;
    stream.id = id;
    stream.sendWindow = this.#initialWindow;
    this.#streams.set(id, stream);
    let blockLength = 0;
    for (const part of stream.block) blockLength += part.length;
    const payload = stream.payload;
    const max = this.#maxFrame;
    if (blockLength <= max && payload.length <= max && payload.length <= stream.sendWindow && payload.length <= this.#sendWindow) {
      // The usual request: HEADERS and one DATA frame, in one write.
      const out = Buffer.allocUnsafe(18 + blockLength + payload.length);
      frameHeader(out, 0, blockLength, HEADERS, END_HEADERS, id);
      let at = 9;
      for (const part of stream.block) at += part.copy(out, at);
      frameHeader(out, at, payload.length, DATA, END_STREAM, id);
      payload.copy(out, at + 9);
      stream.sendWindow -= payload.length;
      this.#sendWindow -= payload.length;
      this.#write(out);
      return;
    }
    const block = Buffer.concat(stream.block as Buffer[], blockLength);
    const frames: Buffer[] = [];
    for (let at = 0; at < block.length || at === 0; at += max) {
      const last = at + max >= block.length;
      const flags = last ? END_HEADERS : 0;
      frames.push(frame(at === 0 ? HEADERS : CONTINUATION, flags, id, block.subarray(at, Math.min(at + max, block.length))));
      if (last) break;
    }
    this.#write(Buffer.concat(frames));
    stream.unsent = payload;
    this.#flush(stream);
  }

  /** Sends what flow control allows of a stream's held-back request bytes. */
  #flush(stream: H2Stream): void {
    let unsent = stream.unsent;
    while (unsent !== undefined) {
      // Windows may be negative (a smaller INITIAL_WINDOW_SIZE); an empty frame needs none.
      const n = Math.max(0, Math.min(unsent.length, stream.sendWindow, this.#sendWindow, this.#maxFrame));
      if (n === 0 && unsent.length > 0) break;
      const last = n === unsent.length;
      this.#write(frame(DATA, last ? END_STREAM : 0, stream.id, unsent.subarray(0, n)));
      stream.sendWindow -= n;
      this.#sendWindow -= n;
      unsent = last ? undefined : unsent.subarray(n);
    }
    stream.unsent = unsent;
    if (unsent === undefined) this.#blocked.delete(stream);
    else this.#blocked.add(stream);
  }

  #read(chunk: Buffer): void {
    let buf = chunk;
    if (this.#rest !== undefined) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    let at = 0;
    while (buf.length - at >= 9) {
      const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
      if (length > MAX_FRAME) {
        this.#fail(H2_ERROR.FRAME_SIZE_ERROR, `a frame of ${length} bytes`);
        return;
      }
      if (buf.length - at - 9 < length) break;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
      const payload = buf.subarray(at + 9, at + 9 + length);
      at += 9 + length;
      this.#frame(type, flags, id, payload);
      if (this.#dead) return;
    }
    if (at < buf.length) this.#rest = buf.subarray(at);
  }

  #frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.#continued !== undefined && type !== CONTINUATION) {
      this.#fail(H2_ERROR.PROTOCOL_ERROR, "a frame inside a header block");
      return;
    }
    switch (type) {
      case DATA:
        this.#data(flags, id, payload);
        return;
      case HEADERS:
        this.#headers(flags, id, payload);
        return;
      case CONTINUATION:
        this.#continuation(flags, id, payload);
        return;
      case RST_STREAM: {
        if (payload.length !== 4) return this.#fail(H2_ERROR.FRAME_SIZE_ERROR, "RST_STREAM");
        const stream = this.#streams.get(id);
        if (stream === undefined) return;
        const code = payload.readUInt32BE(0);
        // Refused before any answer: the server never processed the request.
        this.#end(stream, code === H2_ERROR.REFUSED_STREAM && stream.head === undefined ? "refused" : "reset", code);
        return;
      }
      case SETTINGS:
        if (id !== 0) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "SETTINGS on a stream");
        if (flags & ACK) return;
        this.#settings(payload);
        return;
      case PUSH_PROMISE:
        this.#fail(H2_ERROR.PROTOCOL_ERROR, "a push, which this client disabled");
        return;
      case PING:
        if (payload.length !== 8) return this.#fail(H2_ERROR.FRAME_SIZE_ERROR, "PING");
        if (!(flags & ACK)) this.#write(frame(PING, ACK, 0, payload));
        return;
      case GOAWAY:
        if (payload.length < 8) return this.#fail(H2_ERROR.FRAME_SIZE_ERROR, "GOAWAY");
        this.#goaway(payload.readUInt32BE(0) & 0x7fffffff);
        return;
      case WINDOW_UPDATE:
        if (payload.length !== 4) return this.#fail(H2_ERROR.FRAME_SIZE_ERROR, "WINDOW_UPDATE");
        this.#windowUpdate(id, payload.readUInt32BE(0) & 0x7fffffff);
        return;
      default:
      // PRIORITY and unknown frame types carry nothing a client must act on.
    }
  }

  #data(flags: number, id: number, payload: Buffer): void {
    if (id === 0) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "DATA on stream 0");
    // The connection's window counts every DATA byte, padding and dropped streams' included.
    this.#received += payload.length;
    if (this.#received >= CONNECTION_WINDOW / 2) {
      this.#write(frame(WINDOW_UPDATE, 0, 0, u32(this.#received)));
      this.#received = 0;
    }
    let data = payload;
    if (flags & PADDED) {
      const pad = payload.length > 0 ? payload[0]! : 0;
      if (payload.length === 0 || pad >= payload.length) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "DATA padding");
      data = payload.subarray(1, payload.length - pad);
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    if (stream.head === undefined) {
      this.#reset(stream, H2_ERROR.PROTOCOL_ERROR, "DATA before the response's headers");
      return;
    }
    if (data.length > 0) {
      stream.size += data.length;
      if (stream.size > this.#maxBody) {
        this.#write(frame(RST_STREAM, 0, id, u32(H2_ERROR.CANCEL)));
        this.#end(stream, "tooLarge");
        return;
      }
      if (stream.body === undefined) stream.body = data;
      else (stream.chunks ??= [stream.body]).push(data);
    }
    if (flags & END_STREAM) this.#end(stream, "ended");
  }

  #headers(flags: number, id: number, payload: Buffer): void {
    if (id === 0) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "HEADERS on stream 0");
    let from = 0;
    let to = payload.length;
    if (flags & PADDED) {
      if (payload.length === 0) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "HEADERS padding");
      from = 1;
      to -= payload[0]!;
    }
    if (flags & PRIORITY) from += 5;
    if (from > to) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "HEADERS padding");
    const fragment = payload.subarray(from, to);
    const endStream = (flags & END_STREAM) !== 0;
    if (flags & END_HEADERS) this.#block(id, endStream, fragment);
    else this.#continued = { id, endStream, parts: [fragment], size: fragment.length };
  }

  #continuation(flags: number, id: number, payload: Buffer): void {
    const continued = this.#continued;
    if (continued === undefined || continued.id !== id) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "CONTINUATION out of place");
    continued.parts.push(payload);
    continued.size += payload.length;
    if (continued.size > MAX_HEADER_BLOCK) return this.#fail(H2_ERROR.ENHANCE_YOUR_CALM, "a header block over 256 KiB");
    if (!(flags & END_HEADERS)) return;
    this.#continued = undefined;
    this.#block(id, continued.endStream, Buffer.concat(continued.parts, continued.size));
  }

  #block(id: number, endStream: boolean, block: Buffer): void {
    let fields: Fields;
    try {
      // Every block is decoded, a dropped stream's too: the dynamic table must follow the server's.
      fields = this.#decoder.decode(block);
    } catch (e) {
      this.#fail(H2_ERROR.COMPRESSION_ERROR, (e as Error).message);
      return;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    if (stream.head === undefined) {
      // Informational (1xx) headers come before the response's.
      if (!endStream && fields[":status"]?.startsWith("1")) return;
      stream.head = fields;
    } else if (endStream) {
      stream.trailers = fields;
    } else {
      this.#reset(stream, H2_ERROR.PROTOCOL_ERROR, "trailers that do not end the stream");
      return;
    }
    if (endStream) this.#end(stream, "ended");
  }

  #settings(payload: Buffer): void {
    if (payload.length % 6 !== 0) return this.#fail(H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS");
    for (let at = 0; at < payload.length; at += 6) {
      const value = payload.readUInt32BE(at + 2);
      switch (payload.readUInt16BE(at)) {
        case 0x3: // MAX_CONCURRENT_STREAMS
          this.#maxStreams = value;
          break;
        case 0x4: {
          // INITIAL_WINDOW_SIZE: every stream's send window moves by the difference.
          if (value > MAX_WINDOW) return this.#fail(H2_ERROR.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE");
          const delta = value - this.#initialWindow;
          this.#initialWindow = value;
          for (const stream of this.#streams.values()) stream.sendWindow += delta;
          break;
        }
        case 0x5: // MAX_FRAME_SIZE
          if (value < MAX_FRAME || value > 0xffffff) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "MAX_FRAME_SIZE");
          this.#maxFrame = value;
          break;
        default:
        // HEADER_TABLE_SIZE does not bind an encoder that never indexes; the rest are advice.
      }
    }
    this.#write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
    this.#unblock();
    this.#startQueued();
  }

  #windowUpdate(id: number, increment: number): void {
    if (id === 0) {
      if (increment === 0) return this.#fail(H2_ERROR.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) return this.#fail(H2_ERROR.FLOW_CONTROL_ERROR, "the connection window overflowed");
      this.#unblock();
      return;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return;
    if (increment === 0) return this.#reset(stream, H2_ERROR.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.#reset(stream, H2_ERROR.FLOW_CONTROL_ERROR, "the stream window overflowed");
    if (stream.unsent !== undefined) this.#flush(stream);
  }

  #unblock(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      this.#flush(stream);
    }
  }

  /** Starts queued streams while the server's limit allows (after a GOAWAY they were refused). */
  #startQueued(): void {
    while (this.#queued.length > 0 && this.#streams.size < this.#maxStreams) {
      if (this.#dead) return;
      if (this.#lastStream !== undefined || this.#nextId > MAX_STREAM_ID) {
        for (const stream of this.#queued.splice(0)) this.#end(stream, "refused", 0, "the connection takes no more streams");
        return;
      }
      this.#start(this.#queued.shift()!);
    }
  }

  #goaway(lastStream: number): void {
    this.#lastStream = Math.min(lastStream, this.#lastStream ?? lastStream);
    // Streams above the last one the server processes never were: they may go elsewhere.
    for (const stream of this.#streams.values()) {
      if (stream.id > this.#lastStream) this.#end(stream, "refused", H2_ERROR.REFUSED_STREAM, "the server went away before the call");
    }
    for (const stream of this.#queued.splice(0)) this.#end(stream, "refused", 0, "the server went away before the call");
    this.#goneOnce();
    this.#maybeEnd();
  }

  /** A stream error: the stream is reset and ends as reset with that code. */
  #reset(stream: H2Stream, code: number, why: string): void {
    this.#write(frame(RST_STREAM, 0, stream.id, u32(code)));
    this.#end(stream, "reset", code, why);
  }

  /** A connection error: GOAWAY, then every stream is lost. */
  #fail(code: number, why: string): void {
    this.#write(frame(GOAWAY, 0, 0, u32(0, code)));
    if (this.#corked) this.#uncork();
    this.#socket.destroy();
    this.#lost(`HTTP/2 protocol error (${why})`);
  }

  #lost(why: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#socket.destroy();
    for (const stream of this.#streams.values()) this.#end(stream, "lost", 0, why);
    for (const stream of this.#queued.splice(0)) this.#end(stream, "refused", 0, why);
    this.#goneOnce();
  }

  #end(stream: H2Stream, end: StreamEnd, code = 0, why = ""): void {
    if (stream.end !== undefined) return;
    stream.end = end;
    stream.code = code;
    stream.why = why;
    this.#forget(stream);
    stream.onEnd(stream);
  }

  #forget(stream: H2Stream): void {
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    this.#startQueued();
    this.#maybeEnd();
  }

  #goneOnce(): void {
    if (this.#goneCalled) return;
    this.#goneCalled = true;
    this.#gone();
  }

  /** A connection that takes no more streams closes once the last one ended. */
  #maybeEnd(): void {
    if (this.#dead || this.usable || this.#streams.size > 0 || this.#queued.length > 0) return;
    if (this.#closing) this.#write(frame(GOAWAY, 0, 0, u32(0, H2_ERROR.NO_ERROR)));
    this.#socket.end();
    this.#dead = true;
  }
}
