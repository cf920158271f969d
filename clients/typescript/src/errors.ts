// The one reason table (proto/tessera/v1/auth.proto) and the error every call fails with.
import { Metadata, status as Code, type ServiceError } from "@grpc/grpc-js";
import { BinaryReader } from "@bufbuild/protobuf/wire";

/** The machine-readable cause Tessera puts in google.rpc.ErrorInfo. Branch on it, never on text. */
export type Reason =
  | "AUTH_REQUIRED"
  | "AUTH_FAILED"
  | "AUTH_DENIED"
  | "INVALID_CREDENTIALS"
  | "MFA_REQUIRED"
  | "ACCOUNT_LOCKED"
  | "PRIVILEGE_EXCEEDED"
  | "ELEVATION_REQUIRED"
  | "OVER_PRIVILEGED"
  | "INVALID_ARGUMENT"
  | "USER_NOT_FOUND"
  | "USER_EXISTS"
  | "TOKEN_NOT_FOUND"
  | "RESOURCE_EXHAUSTED"
  | "RESYNC_REQUIRED"
  | "UNAVAILABLE"
  | "INTERNAL";

/** Each reason with the gRPC code Tessera answers it with. */
export const REASON_CODES: Readonly<Record<Reason, Code>> = Object.freeze({
  AUTH_REQUIRED: Code.UNAUTHENTICATED,
  AUTH_FAILED: Code.UNAUTHENTICATED,
  AUTH_DENIED: Code.PERMISSION_DENIED,
  INVALID_CREDENTIALS: Code.UNAUTHENTICATED,
  MFA_REQUIRED: Code.FAILED_PRECONDITION,
  ACCOUNT_LOCKED: Code.RESOURCE_EXHAUSTED,
  PRIVILEGE_EXCEEDED: Code.PERMISSION_DENIED,
  ELEVATION_REQUIRED: Code.PERMISSION_DENIED,
  OVER_PRIVILEGED: Code.PERMISSION_DENIED,
  INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  USER_NOT_FOUND: Code.NOT_FOUND,
  USER_EXISTS: Code.ALREADY_EXISTS,
  TOKEN_NOT_FOUND: Code.NOT_FOUND,
  RESOURCE_EXHAUSTED: Code.RESOURCE_EXHAUSTED,
  RESYNC_REQUIRED: Code.FAILED_PRECONDITION,
  UNAVAILABLE: Code.UNAVAILABLE,
  INTERNAL: Code.INTERNAL,
});

/** What a failure without a (known) Tessera reason means, by its gRPC code alone. */
const CODE_REASONS: Partial<Record<Code, Reason>> = {
  [Code.UNAUTHENTICATED]: "AUTH_FAILED",
  [Code.PERMISSION_DENIED]: "AUTH_DENIED",
  [Code.INVALID_ARGUMENT]: "INVALID_ARGUMENT",
  [Code.RESOURCE_EXHAUSTED]: "RESOURCE_EXHAUSTED",
  [Code.UNAVAILABLE]: "UNAVAILABLE",
  [Code.INTERNAL]: "INTERNAL",
  [Code.UNKNOWN]: "INTERNAL",
  [Code.DATA_LOSS]: "INTERNAL",
};

/** The google.rpc.ErrorInfo domain of Tessera's own errors; others (a proxy, a mesh) are ignored. */
export const ERROR_DOMAIN = "tessera";
const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";
const DETAILS_KEY = "grpc-status-details-bin";

export function isReason(value: string): value is Reason {
  return Object.prototype.hasOwnProperty.call(REASON_CODES, value);
}

/** A failed call to Tessera, or a request this client refused before sending it. */
export class TesseraError extends Error {
  /** The gRPC status code. */
  readonly code: Code;
  /** The server's reason when this client knows it; undefined for transport failures. */
  readonly reason: Reason | undefined;
  /** The reason exactly as the server sent it ("" when there was none). */
  readonly wireReason: string;
  /** The request field at fault (ErrorInfo metadata "field"), or "". */
  readonly field: string;
  /** With RESYNC_REQUIRED: the oldest revocation the server retains; else 0n. */
  readonly oldestSequence: bigint;

  constructor(code: Code, wireReason: string, field: string, message: string, oldestSequence = 0n, options?: { cause?: unknown }) {
    const head = (wireReason || Code[code] || String(code)).toLowerCase();
    super(message ? `tessera: ${head}: ${message}` : `tessera: ${head}`, options);
    this.name = "TesseraError";
    this.code = code;
    this.wireReason = wireReason;
    this.reason = isReason(wireReason) ? wireReason : undefined;
    this.field = field;
    this.oldestSequence = oldestSequence;
  }

  /** The reason to branch on: the server's, else one derived from the gRPC code. */
  get kind(): Reason | undefined {
    return this.reason ?? CODE_REASONS[this.code];
  }

  /** True for a deadline that ran out (the client's default deadline among them). */
  get deadlineExceeded(): boolean {
    return this.code === Code.DEADLINE_EXCEEDED;
  }
}

/** An error shaped like the server's, for a request refused before it was sent. */
export function refused(reason: Reason, field: string, message: string): TesseraError {
  return new TesseraError(REASON_CODES[reason], reason, field, message);
}

/**
 * Converts the failure of any gRPC call (to Tessera, or to a service a Tessera guard protects) into
 * a TesseraError keyed on its ErrorInfo reason.
 */
export function fromGrpcError(error: unknown): TesseraError {
  if (error instanceof TesseraError) return error;
  const e = error as Partial<ServiceError>;
  if (typeof e?.code !== "number") {
    return new TesseraError(Code.UNKNOWN, "", "", String((error as Error)?.message ?? error), 0n, { cause: error });
  }
  const details = (e.metadata?.get(DETAILS_KEY) ?? []).filter((raw): raw is Buffer => raw instanceof Uint8Array);
  return statusError(e.code, e.details ?? "", details, error);
}

/**
 * The TesseraError of a call's status: its code, message and grpc-status-details-bin (serialized
 * google.rpc.Status messages), whose first ErrorInfo of domain "tessera" gives the reason.
 */
export function statusError(code: Code, message: string, details: readonly Uint8Array[], cause?: unknown): TesseraError {
  let wire = "";
  let field = "";
  let oldest = 0n;
  for (const raw of details) {
    const info = errorInfo(raw);
    if (info) {
      wire = info.reason;
      field = info.metadata.get("field") ?? "";
      try {
        oldest = BigInt(info.metadata.get("oldest_sequence") ?? "0");
      } catch {
        oldest = 0n;
      }
      break;
    }
  }
  return new TesseraError(code, wire, field, message, oldest, cause === undefined ? undefined : { cause });
}

interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Map<string, string>;
}

/** The first ErrorInfo of domain "tessera" in a serialized google.rpc.Status. */
function errorInfo(status: Uint8Array): ErrorInfo | undefined {
  try {
    const reader = new BinaryReader(status);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field !== 3) {
        reader.skip(wireType);
        continue;
      }
      // google.protobuf.Any { string type_url = 1; bytes value = 2; }
      const any = new BinaryReader(reader.bytes());
      let typeUrl = "";
      let value: Uint8Array | undefined;
      while (any.pos < any.len) {
        const [f, t] = any.tag();
        if (f === 1) typeUrl = any.string();
        else if (f === 2) value = any.bytes();
        else any.skip(t);
      }
      if (typeUrl !== ERROR_INFO_TYPE || !value) continue;
      const info = decodeErrorInfo(value);
      if (info.domain === ERROR_DOMAIN) return info;
    }
  } catch {
    // Not a google.rpc.Status: no reason to read.
  }
  return undefined;
}

// google.rpc.ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
function decodeErrorInfo(bytes: Uint8Array): ErrorInfo {
  const reader = new BinaryReader(bytes);
  const info: ErrorInfo = { reason: "", domain: "", metadata: new Map() };
  while (reader.pos < reader.len) {
    const [f, t] = reader.tag();
    if (f === 1) info.reason = reader.string();
    else if (f === 2) info.domain = reader.string();
    else if (f === 3) {
      const entry = new BinaryReader(reader.bytes());
      let key = "";
      let value = "";
      while (entry.pos < entry.len) {
        const [ef, et] = entry.tag();
        if (ef === 1) key = entry.string();
        else if (ef === 2) value = entry.string();
        else entry.skip(et);
      }
      info.metadata.set(key, value);
    } else reader.skip(t);
  }
  return info;
}

/** Metadata carrying a google.rpc.Status with ErrorInfo of domain "tessera", as the guards answer. */
export function statusWithReason(reason: Reason, field: string, message: string): { code: Code; details: string; metadata: Metadata } {
  const enc = new TextEncoder();
  const str = (n: number, s: string) => lengthDelimited(n, enc.encode(s));
  const parts = [str(1, reason), str(2, ERROR_DOMAIN)];
  if (field) parts.push(lengthDelimited(3, concat([str(1, "field"), str(2, field)])));
  const any = concat([str(1, ERROR_INFO_TYPE), lengthDelimited(2, concat(parts))]);
  const code = REASON_CODES[reason];
  const status = concat([varintField(1, code), str(2, message), lengthDelimited(3, any)]);
  const metadata = new Metadata();
  metadata.set(DETAILS_KEY, Buffer.from(status));
  return { code, details: message, metadata };
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Uint8Array.from(out);
}

function varintField(field: number, n: number): Uint8Array {
  return n === 0 ? new Uint8Array() : concat([varint(field << 3), varint(n)]);
}

function lengthDelimited(field: number, bytes: Uint8Array): Uint8Array {
  return concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
