import { refused } from "./errors.js";

/** A token secret that does not print itself; expose() reveals it. Never log the exposed value. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  expose(): string {
    return this.#value;
  }
  toString(): string {
    return "Secret[redacted]";
  }
  toJSON(): string {
    return "Secret[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "Secret[redacted]";
  }
}

/** Who a token speaks for and what it holds, as Introspect says; the guards hand it to handlers. */
export interface Identity {
  /** The account's user id. */
  subject: string;
  username: string;
  tokenId: string;
  /** SESSION, ELEVATED, API, SERVICE, STATIC or MASTER. */
  tokenType: string;
  roles: string[];
  permissions: string[];
  namespace: string;
  elevated: boolean;
  sessionId: string;
  /** undefined for a token that never expires. */
  expiresAt: Date | undefined;
}

/** Introspect's answer; an inactive token is active: false, not an error. */
export interface Introspection {
  active: boolean;
  identity: Identity;
  issuedAt: Date | undefined;
  /** undefined for a token without a use limit. */
  usesRemaining: number | undefined;
}

/** CheckNamespace's answer. */
export interface NamespaceDecision {
  active: boolean;
  /** Whether every identifier is allowed. */
  allowed: boolean;
  namespace: string;
  tokenId: string;
  /** Each identifier with its decision, in the order asked. */
  results: Map<string, boolean>;
}

/** Login's answer. */
export interface Session {
  token: Secret;
  tokenId: string;
  sessionId: string;
  expiresAt: Date | undefined;
  user: { userId: string; username: string; displayName: string; role: string; totpEnabled: boolean };
}

/** IssueToken's (and Unlock's) answer. */
export interface IssuedToken {
  token: Secret;
  tokenId: string;
  expiresAt: Date | undefined;
  namespace: string;
  permissions: string[];
  maxUses: number | undefined;
}

/** IssueToken's inputs; every bound defaults to the caller's own and never exceeds it. */
export interface IssueParams {
  /** Seconds; omitted: the server's default (one hour), capped by the caller's life. */
  ttlSeconds?: number;
  /** 0 or omitted: no limit of its own; 1: single use. */
  maxUses?: number;
  /** Such as "deploy." or "*"; omitted: the caller's. */
  namespace?: string;
  /** Such as ["introspect"]; omitted: the caller's. */
  permissions?: string[];
  description?: string;
  /** A JWT instead of an opaque token. */
  jwt?: boolean;
  /** A service token (tsr_svc_) instead of an API token; it must not hold admin rights. */
  service?: boolean;
}

/** What Revoke revokes, with everything derived from it: exactly one key. */
export type RevokeTarget = { token: string } | { tokenId: string } | { tokenIds: string[] } | { sessionId: string } | { subject: string };

/** Revoke's answer. */
export interface RevokeResult {
  revokedCount: bigint;
  /** Every follower of the feed acknowledged it or its lease ran out (false with noWait). */
  everywhere: boolean;
  acknowledged: number;
  lapsed: string[];
}

/** One message of the revocation feed. */
export interface Revocation {
  sequence: bigint;
  tokenId: string;
  /** Lowercase hex SHA-256 of the token secret, the key a cache holds. */
  tokenHash: string;
  revokedAt: Date | undefined;
  /** Hand it back to resume (afterAnchor) and to acknowledge (appliedAnchor). */
  anchor: string;
  /** A position only (no revocation). */
  checkpoint: boolean;
}

/** AcknowledgeRevocations' answer. */
export interface Acknowledgement {
  /** Nothing newer is committed: serve from the cache for leaseMs, from before the call was sent. */
  current: boolean;
  leaseMs: number;
  headSequence: bigint;
}

/** What a request wants to touch: identifiers checked with CheckNamespace, and an optional permission. */
export interface Access {
  identifiers: string[];
  /** A permission the token must also hold ("" for none). */
  action?: string;
}

/** The server's TTL grammar: whole seconds, largest unit first (w, d, h, m, s); "" for the default. */
export function formatTtl(seconds: number | undefined): string {
  if (seconds === undefined || seconds === 0) return "";
  if (!(seconds >= 1)) throw refused("INVALID_ARGUMENT", "ttl", `ttl must be at least one second, got ${seconds}`);
  let s = Math.floor(seconds);
  let out = "";
  for (const [unit, length] of [
    ["w", 604800],
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(s / length);
    if (n > 0) {
      out += `${n}${unit}`;
      s -= n * length;
    }
  }
  return out;
}
