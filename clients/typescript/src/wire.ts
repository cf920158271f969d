// Hand-written wire codecs of the two calls a service makes on the hot path, on every request it
// guards: Introspect and CheckNamespace. protoc-gen-es's reflection codec (create, toBinary,
// fromBinary, then a copy into the client's own types) cost more CPU than grpc-js's whole call
// did for a CheckNamespace of ten identifiers; these write the request bytes in one pass and read the
// answer straight into Introspection and NamespaceDecision. They follow proto/tessera/v1/auth.proto
// (field numbers below); test/units.mjs checks them against protoc-gen-es's codec both ways, and
// every other call keeps the generic codec of rpc.ts.
import { TokenType } from "./gen/tessera/v1/auth_pb.js";
import type { Identity, Introspection, NamespaceDecision } from "./types.js";

const LEN = 2; // wire type of strings, bytes and messages
const VARINT = 0;

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function putVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[at++] = n;
  return at;
}

/** A string field's bytes, tag and length included (field numbers below 16: a one-byte tag). */
function stringSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function putString(buf: Buffer, at: number, field: number, value: string, length: number): number {
  buf[at++] = (field << 3) | LEN;
  at = putVarint(buf, at, length);
  return at + buf.write(value, at, length, "utf8");
}

/**
 * IntrospectRequest { string token = 1; bool peek = 2; }, after reserve bytes left for the caller
 * (the transport's frame prefix).
 */
export function encodeIntrospectRequest(token: string, peek: boolean, reserve = 0): Buffer {
  const tokenLength = token === "" ? 0 : Buffer.byteLength(token, "utf8");
  const buf = Buffer.allocUnsafe(reserve + (tokenLength ? stringSize(tokenLength) : 0) + (peek ? 2 : 0));
  let at = reserve;
  if (tokenLength) at = putString(buf, at, 1, token, tokenLength);
  if (peek) {
    buf[at++] = (2 << 3) | VARINT;
    buf[at++] = 1;
  }
  return buf;
}

/** CheckNamespaceRequest { string token = 1; repeated string identifiers = 2; string action = 3; }, after reserve bytes. */
export function encodeCheckNamespaceRequest(token: string, identifiers: readonly string[], action: string, reserve = 0): Buffer {
  const tokenLength = token === "" ? 0 : Buffer.byteLength(token, "utf8");
  const actionLength = action === "" ? 0 : Buffer.byteLength(action, "utf8");
  const lengths = new Array<number>(identifiers.length);
  let size = reserve + (tokenLength ? stringSize(tokenLength) : 0) + (actionLength ? stringSize(actionLength) : 0);
  for (let i = 0; i < identifiers.length; i++) {
    const length = Buffer.byteLength(identifiers[i]!, "utf8");
    lengths[i] = length;
    size += stringSize(length);
  }
  const buf = Buffer.allocUnsafe(size);
  let at = reserve;
  if (tokenLength) at = putString(buf, at, 1, token, tokenLength);
  for (let i = 0; i < identifiers.length; i++) at = putString(buf, at, 2, identifiers[i]!, lengths[i]!);
  if (actionLength) putString(buf, at, 3, action, actionLength);
  return buf;
}

/**
 * Whether Introspect's arguments are what its types say, for the hand-written encoder (anything
 * else goes through the generic codec and fails or is converted there, as before).
 */
export function plainIntrospect(token: unknown, peek: unknown): boolean {
  return typeof token === "string" && typeof peek === "boolean";
}

/** The same for CheckNamespace's arguments. */
export function plainCheckNamespace(token: unknown, identifiers: unknown, action: unknown): boolean {
  if (typeof token !== "string" || typeof action !== "string" || !Array.isArray(identifiers)) return false;
  for (let i = 0; i < identifiers.length; i++) if (typeof identifiers[i] !== "string") return false;
  return true;
}

/** A cursor over one message's bytes. */
class Reader {
  at: number;
  constructor(
    readonly buf: Buffer,
    at: number,
    readonly end: number,
  ) {
    this.at = at;
  }

  /** A varint's low 32 bits (unsigned); every byte of a longer one is consumed. */
  varint(): number {
    const buf = this.buf;
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.at >= this.end) throw new Error("premature end of message");
      const b = buf[this.at++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) return result >>> 0;
    }
    throw new Error("invalid varint");
  }

  /** An int64 varint as a number (exact below 2**53). */
  int64(): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.at >= this.end) throw new Error("premature end of message");
      const b = buf[this.at++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) return (hi | 0) * 0x100000000 + (lo >>> 0);
    }
    throw new Error("invalid varint");
  }

  /** The end of a length-delimited field whose length is next. */
  delimited(): number {
    const length = this.varint();
    const end = this.at + length;
    if (end > this.end) throw new Error("premature end of message");
    return end;
  }

  string(): string {
    const end = this.delimited();
    const s = this.buf.toString("utf8", this.at, end);
    this.at = end;
    return s;
  }

  /** Skips a field of an unknown number. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.at += 8;
        break;
      case 2:
        this.at = this.delimited();
        return;
      case 5:
        this.at += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.at > this.end) throw new Error("premature end of message");
  }
}

/** google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; } merged into [seconds, nanos]. */
function timestamp(r: Reader, into: [number, number]): [number, number] {
  const end = r.delimited();
  const inner = new Reader(r.buf, r.at, end);
  while (inner.at < end) {
    const tag = inner.varint();
    if (tag === ((1 << 3) | VARINT)) into[0] = inner.int64();
    else if (tag === ((2 << 3) | VARINT)) into[1] = inner.varint() | 0;
    else inner.skip(tag & 7);
  }
  r.at = end;
  return into;
}

/** As protobuf-es's timestampDate. */
function dateOf(ts: [number, number] | undefined): Date | undefined {
  return ts ? new Date(ts[0] * 1000 + Math.round(ts[1] / 1000000)) : undefined;
}

/** Token type names as the client's types spell them, by wire value. */
export const TOKEN_TYPES: Record<number, string> = {
  [TokenType.SESSION]: "SESSION",
  [TokenType.ELEVATED]: "ELEVATED",
  [TokenType.API]: "API",
  [TokenType.SERVICE]: "SERVICE",
  [TokenType.STATIC]: "STATIC",
  [TokenType.MASTER]: "MASTER",
};

/** IntrospectResponse (auth.proto) straight into an Introspection. */
export function decodeIntrospection(buf: Buffer): Introspection {
  const r = new Reader(buf, 0, buf.length);
  let active = false;
  let tokenId = "";
  let tokenType = 0;
  let subject = "";
  let username = "";
  const roles: string[] = [];
  const permissions: string[] = [];
  let namespace = "";
  let issuedAt: [number, number] | undefined;
  let expiresAt: [number, number] | undefined;
  let elevated = false;
  let usesRemaining: number | undefined;
  let sessionId = "";
  while (r.at < r.end) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | VARINT:
        active = r.varint() !== 0;
        break;
      case (2 << 3) | LEN:
        tokenId = r.string();
        break;
      case (3 << 3) | VARINT:
        tokenType = r.varint() | 0;
        break;
      case (4 << 3) | LEN:
        subject = r.string();
        break;
      case (5 << 3) | LEN:
        username = r.string();
        break;
      case (6 << 3) | LEN:
        roles.push(r.string());
        break;
      case (7 << 3) | LEN:
        permissions.push(r.string());
        break;
      case (8 << 3) | LEN:
        namespace = r.string();
        break;
      case (9 << 3) | LEN:
        issuedAt = timestamp(r, issuedAt ?? [0, 0]);
        break;
      case (10 << 3) | LEN:
        expiresAt = timestamp(r, expiresAt ?? [0, 0]);
        break;
      case (11 << 3) | VARINT:
        elevated = r.varint() !== 0;
        break;
      case (12 << 3) | VARINT:
        usesRemaining = r.varint();
        break;
      case (13 << 3) | LEN:
        sessionId = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  const identity: Identity = {
    subject,
    username,
    tokenId,
    tokenType: TOKEN_TYPES[tokenType] ?? "UNSPECIFIED",
    roles,
    permissions,
    namespace,
    elevated,
    sessionId,
    expiresAt: dateOf(expiresAt),
  };
  return { active, identity, issuedAt: dateOf(issuedAt), usesRemaining };
}

/** CheckNamespaceResponse (auth.proto) straight into a NamespaceDecision. */
export function decodeNamespaceDecision(buf: Buffer): NamespaceDecision {
  const r = new Reader(buf, 0, buf.length);
  let active = false;
  let allowed = false;
  let namespace = "";
  let tokenId = "";
  const results = new Map<string, boolean>();
  while (r.at < r.end) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | VARINT:
        active = r.varint() !== 0;
        break;
      case (2 << 3) | LEN: {
        // IdentifierDecision { string identifier = 1; bool allowed = 2; }
        const end = r.delimited();
        const d = new Reader(buf, r.at, end);
        let identifier = "";
        let ok = false;
        while (d.at < end) {
          const t = d.varint();
          if (t === ((1 << 3) | LEN)) identifier = d.string();
          else if (t === ((2 << 3) | VARINT)) ok = d.varint() !== 0;
          else d.skip(t & 7);
        }
        results.set(identifier, ok);
        r.at = end;
        break;
      }
      case (3 << 3) | VARINT:
        allowed = r.varint() !== 0;
        break;
      case (4 << 3) | LEN:
        namespace = r.string();
        break;
      case (5 << 3) | LEN:
        tokenId = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return { active, allowed, namespace, tokenId, results };
}
