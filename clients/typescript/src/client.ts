import { Metadata, status as Code } from "@grpc/grpc-js";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ADDRESS_FORMS, parseAddress, type ServerAddress } from "./address.js";
import { Connection, tlsMaterial, type TlsFiles } from "./channel.js";
import { refused, TesseraError } from "./errors.js";
import { methodPath, unary } from "./rpc.js";
import { FRAME_PREFIX, type Headers, type Transport } from "./transport.js";
import {
  decodeIntrospection,
  decodeNamespaceDecision,
  encodeCheckNamespaceRequest,
  encodeIntrospectRequest,
  plainCheckNamespace,
  plainIntrospect,
  TOKEN_TYPES,
} from "./wire.js";
import {
  formatTtl,
  Secret,
  type Acknowledgement,
  type IssuedToken,
  type IssueParams,
  type Introspection,
  type NamespaceDecision,
  type RevokeResult,
  type RevokeTarget,
  type Session,
} from "./types.js";
import { Watch, type WatchHandlers, type WatchOptions } from "./watch.js";
import {
  AuthService,
  TokenFormat,
  TokenType,
  type CheckNamespaceResponse,
  type IntrospectResponse,
  type RevokeRequest,
} from "./gen/tessera/v1/auth_pb.js";
import { AdminClient } from "./admin.js";

/**
 * Supplies the bearer token of each call, e.g. a service token a secret store rotates in a file. It
 * is asked once per call (and per watch connection), so it should answer quickly: from memory or a
 * small file. A call fails with its error (a TesseraError of kind INTERNAL naming the token source)
 * or, when it has not answered by the call's deadline, with DEADLINE_EXCEEDED.
 */
export type TokenSource = () => string | Promise<string>;

/** Options of a TesseraClient; every one is checked when the client is built. */
export interface ClientOptions {
  /** The bearer token every call sends (a service token with introspect, for a guard). */
  token?: string;
  /** Asked for the bearer token of every call instead of a fixed token (not both). */
  tokenSource?: TokenSource;
  /** The deadline of every unary call in milliseconds (default 10 000). Watches have none. */
  timeoutMs?: number;
  /**
   * TLS: true for Node's default roots, or PEM files (a CA, and a client certificate and key for
   * mutual TLS). https:// addresses imply TLS; http:// ones refuse it; a bare host:port is plaintext
   * unless TLS is given here, as the Rust and Python clients read it.
   */
  tls?: boolean | TlsFiles;
  /** Record a client span per call and propagate the caller's trace context (W3C traceparent). */
  tracing?: boolean;
}

export function timeOf(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function timestampOf(at: Date): Timestamp {
  return timestampFromDate(at);
}

/** Whether a token can travel in a header (printable ASCII, as gRPC metadata values). */
function headerSafe(token: string): boolean {
  return /^[\x20-\x7e]*$/.test(token);
}

/**
 * Talks to Tessera's AuthService (and, through admin(), its AdminService) over one HTTP/2
 * connection at a time (watches over a grpc-js channel of their own). Copies made with withToken
 * share them. Every unary call has a deadline; failures are TesseraErrors carrying the reason.
 *
 *     const tessera = new TesseraClient("http://127.0.0.1:50051", { token: serviceToken });
 *     const info = await tessera.introspect(callerToken);
 *
 * Given several addresses (replicas, in order of preference) calls go to one at a time; when it goes
 * away the next reachable one takes over. A call in flight on a replica that dies fails with
 * UNAVAILABLE; calls safe to repeat (Revoke, CheckNamespace, GetJwks, AcknowledgeRevocations, admin
 * reads) are retried on the next replica, while Login, Unlock, IssueToken and Introspect are re-sent
 * only when they surely never reached a server.
 */
export class TesseraClient {
  readonly #connection: Connection;
  readonly #transport: Transport;
  readonly #token: string;
  readonly #source: TokenSource | undefined;
  readonly #timeoutMs: number;
  // The headers of every call with a fixed token, built once (the transport only reads them).
  readonly #fixed: Headers | undefined;

  constructor(address: string | string[], options?: ClientOptions);
  /** @internal a copy sharing the connection */
  constructor(address: Connection, options: { token: string; timeoutMs: number });
  constructor(address: string | string[] | Connection, options: ClientOptions = {}) {
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (!(timeoutMs > 0)) throw refused("INVALID_ARGUMENT", "timeout", "the default timeout must be positive");
    if (options.tokenSource !== undefined && typeof options.tokenSource !== "function") {
      throw refused("INVALID_ARGUMENT", "tokenSource", "the token source must be a function answering the token");
    }
    if (options.tokenSource && options.token) {
      throw refused("INVALID_ARGUMENT", "tokenSource", "give a token or a token source, not both");
    }
    this.#token = options.token ?? "";
    if (!headerSafe(this.#token)) throw refused("INVALID_ARGUMENT", "token", "a token is printable ASCII");
    this.#source = options.tokenSource;
    this.#timeoutMs = timeoutMs;
    if (!this.#source) this.#fixed = this.#token ? Object.freeze({ authorization: `Bearer ${this.#token}` }) : NO_HEADERS;
    if (address instanceof Connection) {
      this.#connection = address;
      this.#transport = address.transport;
      return;
    }
    const texts = Array.isArray(address) ? address : [address];
    if (texts.length === 0) throw refused("INVALID_ARGUMENT", "addr", `no address given; use ${ADDRESS_FORMS}`);
    const parsed: ServerAddress[] = texts.map(parseAddress);
    const schemes = new Set(parsed.map((a) => a.tls).filter((t) => t !== undefined));
    if (schemes.size > 1) {
      throw refused("INVALID_ARGUMENT", "addr", "mixed http:// and https:// addresses; one deployment uses one transport security");
    }
    const wantsTls = options.tls !== undefined && options.tls !== false;
    if (schemes.has(false) && wantsTls) {
      throw refused("INVALID_ARGUMENT", "addr", "http:// means plaintext but tls was given; use https://");
    }
    const tls = wantsTls || schemes.has(true);
    const files = typeof options.tls === "object" ? options.tls : undefined;
    this.#connection = new Connection(parsed, tlsMaterial(tls, files), options.tracing ?? false);
    this.#transport = this.#connection.transport;
  }

  /** A copy that calls with token as its bearer token (instead of any token source), sharing the connection. */
  withToken(token: string): TesseraClient {
    return new TesseraClient(this.#connection, { token, timeoutMs: this.#timeoutMs });
  }

  /** The AdminService calls, with this client's token and deadline. */
  admin(): AdminClient {
    return new AdminClient(
      this.#transport,
      () => this.headers(),
      () => this.deadline(),
    );
  }

  /** Closes the connections, for this client and every copy; calls in flight are still answered. */
  close(): void {
    this.#connection.close();
  }

  /**
   * @internal the headers of one call: the fixed token's at once, else (a promise of) the token
   * source's answer
   */
  headers(): Headers | Promise<Headers> {
    return this.#fixed ?? this.#sourceHeaders();
  }

  async #sourceHeaders(): Promise<Headers> {
    const token = await this.#ownToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  /** The headers of a watch's connection, as grpc-js metadata. */
  async #watchMetadata(): Promise<Metadata> {
    const md = new Metadata();
    for (const [key, value] of Object.entries(await this.headers())) md.set(key, value);
    return md;
  }

  /** The fixed token, else the source's, bounded by the default deadline. */
  async #ownToken(): Promise<string> {
    const source = this.#source;
    if (this.#token || !source) return this.#token;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TesseraError(Code.DEADLINE_EXCEEDED, "", "", `the token source did not answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      const token = await Promise.race([Promise.resolve().then(source), late]);
      if (typeof token !== "string") throw new Error(`it answered ${typeof token}, not a string`);
      if (!headerSafe(token)) throw new Error("it answered a token that is not printable ASCII");
      return token;
    } catch (e) {
      if (e instanceof TesseraError) throw e;
      throw new TesseraError(Code.INTERNAL, "", "", `the token source failed: ${(e as Error)?.message ?? String(e)}`, 0n, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** @internal the deadline of a call starting now, in milliseconds since the epoch */
  deadline(): number {
    return Date.now() + this.#timeoutMs;
  }

  /**
   * Verifies credentials and opens a session. Failures: INVALID_CREDENTIALS (unknown user, wrong
   * password or code, deliberately alike), MFA_REQUIRED, ACCOUNT_LOCKED, RESOURCE_EXHAUSTED.
   */
  async login(username: string, password: string, totpCode = ""): Promise<Session> {
    const r = await unary(this.#transport, AuthService.method.login, { username, password, totpCode }, NO_HEADERS, this.deadline());
    const u = r.user;
    return {
      token: new Secret(r.token),
      tokenId: r.tokenId,
      sessionId: r.sessionId,
      expiresAt: timeOf(r.expiresAt),
      user: {
        userId: u?.userId ?? "",
        username: u?.username ?? "",
        displayName: u?.displayName ?? "",
        role: u?.role ?? "",
        totpEnabled: u?.totpEnabled ?? false,
      },
    };
  }

  /** Mints a short-lived elevated child of this client's session ("sudo mode"). */
  async unlock(password: string, options: { totpCode?: string; ttlSeconds?: number } = {}): Promise<IssuedToken> {
    const ttl = formatTtl(options.ttlSeconds);
    const r = await unary(
      this.#transport,
      AuthService.method.unlock,
      { password, totpCode: options.totpCode ?? "", ttl },
      this.headers(),
      this.deadline(),
    );
    return {
      token: new Secret(r.token),
      tokenId: r.tokenId,
      expiresAt: timeOf(r.expiresAt),
      namespace: "",
      permissions: [],
      maxUses: undefined,
    };
  }

  /**
   * Revokes the target and everything derived from it, and (unless noWait) waits until it is in
   * force everywhere. Your own tokens need no privilege; anyone else's need an admin role or an
   * elevated token (ELEVATION_REQUIRED).
   */
  async revoke(target: RevokeTarget, reason = "", options: { noWait?: boolean } = {}): Promise<RevokeResult> {
    const r = await unary(
      this.#transport,
      AuthService.method.revoke,
      { target: revokeTarget(target), reason, noWait: options.noWait ?? false },
      this.headers(),
      this.deadline(),
    );
    return { revokedCount: r.revokedCount, everywhere: r.everywhere, acknowledged: r.acknowledged, lapsed: r.lapsed };
  }

  /** Derives a token from this client's. */
  async issueToken(params: IssueParams = {}): Promise<IssuedToken> {
    const ttl = formatTtl(params.ttlSeconds);
    const r = await unary(
      this.#transport,
      AuthService.method.issueToken,
      {
        ttl,
        maxUses: params.maxUses ?? 0,
        namespace: params.namespace ?? "",
        permissions: params.permissions ?? [],
        description: params.description ?? "",
        format: params.jwt ? TokenFormat.JWT : TokenFormat.UNSPECIFIED,
        tokenType: params.service ? TokenType.SERVICE : TokenType.API,
      },
      this.headers(),
      this.deadline(),
    );
    return {
      token: new Secret(r.token),
      tokenId: r.tokenId,
      expiresAt: timeOf(r.expiresAt),
      namespace: r.namespace,
      permissions: r.permissions,
      maxUses: r.maxUses,
    };
  }

  /**
   * Whether token is active and what it holds; counts one use of a limited-use token unless peek.
   * This client's token needs the introspect permission.
   */
  async introspect(token: string, options: { peek?: boolean } = {}): Promise<Introspection> {
    const peek = options.peek ?? false;
    if (!plainIntrospect(token, peek)) {
      return introspection(await unary(this.#transport, AuthService.method.introspect, { token, peek }, this.headers(), this.deadline()));
    }
    const request = encodeIntrospectRequest(token, peek, FRAME_PREFIX);
    return await this.#transport.unary(INTROSPECT, request, decodeIntrospection, this.headers(), this.deadline());
  }

  /**
   * Whether token may touch each identifier ("*" allows everything, else an identifier is allowed
   * when it starts with the token's namespace), and holds action when one is named. Never consumes a use.
   */
  async checkNamespace(token: string, identifiers: string[], action = ""): Promise<NamespaceDecision> {
    if (!plainCheckNamespace(token, identifiers, action)) {
      const r = await unary(
        this.#transport,
        AuthService.method.checkNamespace,
        { token, identifiers, action },
        this.headers(),
        this.deadline(),
      );
      return namespaceDecision(r);
    }
    const request = encodeCheckNamespaceRequest(token, identifiers, action, FRAME_PREFIX);
    return await this.#transport.unary(CHECK_NAMESPACE, request, decodeNamespaceDecision, this.headers(), this.deadline());
  }

  /** The JSON Web Key Set that verifies Tessera JWTs (RFC 7517), as JSON text. Needs no token. */
  async getJwks(): Promise<string> {
    return (await unary(this.#transport, AuthService.method.getJwks, {}, this.headers(), this.deadline())).jwksJson;
  }

  /**
   * Streams every revocation after the options' position to handlers, reconnecting and resuming by
   * itself (sequence and anchor); on RESYNC_REQUIRED it calls onResync and starts over. This
   * client's token needs the introspect permission on a service token of an admin-role account (or
   * a static or master token). No deadline applies; close() the watch to stop.
   */
  watchRevocations(options: WatchOptions, handlers: WatchHandlers): Watch {
    return new Watch(this.#connection.grpc, () => this.#watchMetadata(), options, handlers);
  }

  /**
   * A feed follower's heartbeat: acknowledges what it applied (Revoke waits for these) and, when
   * nothing newer is committed, grants a lease to serve from its cache. With acknowledgeOnly it only
   * records the acknowledgement.
   */
  async acknowledgeRevocations(ack: {
    followerId: string;
    appliedSequence: bigint;
    appliedAnchor: string;
    name?: string;
    acknowledgeOnly?: boolean;
  }): Promise<Acknowledgement> {
    const r = await unary(
      this.#transport,
      AuthService.method.acknowledgeRevocations,
      { ...ack, name: ack.name ?? "", acknowledgeOnly: ack.acknowledgeOnly ?? false },
      this.headers(),
      this.deadline(),
    );
    const lease = r.lease ? Number(r.lease.seconds) * 1000 + r.lease.nanos / 1e6 : 0;
    return { current: r.current, leaseMs: lease, headSequence: r.headSequence };
  }

  /**
   * Checks this client's own token as a guard must before it serves: active, holding introspect,
   * and without admin rights (AUTH_FAILED, AUTH_DENIED or OVER_PRIVILEGED otherwise).
   */
  async verifyServiceToken(): Promise<void> {
    const own = await this.#ownToken();
    if (!own) throw refused("AUTH_REQUIRED", "", "the client has no token of its own to verify");
    const info = await this.introspect(own, { peek: true });
    if (!info.active) throw refused("AUTH_FAILED", "", "the client's own token is not active");
    const p = info.identity.permissions;
    const permits = (x: string) => p.includes("*") || p.includes(x);
    if (!permits("introspect")) throw refused("AUTH_DENIED", "", "the client's own token lacks the introspect permission");
    const adminRole = info.identity.roles.some((r) => ["admin", "owner", "superuser", "root"].includes(r.toLowerCase()));
    if (permits("admin") && (info.identity.elevated || adminRole)) {
      throw refused("OVER_PRIVILEGED", "", "the client's own token holds admin rights; use a service token with only introspect");
    }
  }
}

const NO_HEADERS: Headers = Object.freeze({});
const INTROSPECT = methodPath(AuthService.method.introspect);
const CHECK_NAMESPACE = methodPath(AuthService.method.checkNamespace);

function revokeTarget(target: RevokeTarget): RevokeRequest["target"] {
  if ("token" in target) return { case: "token", value: target.token };
  if ("tokenId" in target) return { case: "tokenId", value: target.tokenId };
  if ("tokenIds" in target) return { case: "tokenIds", value: { $typeName: "tessera.v1.TokenIds", ids: target.tokenIds } };
  if ("sessionId" in target) return { case: "sessionId", value: target.sessionId };
  if ("subject" in target) return { case: "subject", value: target.subject };
  throw refused("INVALID_ARGUMENT", "target", "name one of token, tokenId, tokenIds, sessionId or subject");
}

export function introspection(r: IntrospectResponse): Introspection {
  return {
    active: r.active,
    identity: {
      subject: r.subject,
      username: r.username,
      tokenId: r.tokenId,
      tokenType: TOKEN_TYPES[r.tokenType] ?? "UNSPECIFIED",
      roles: r.roles,
      permissions: r.permissions,
      namespace: r.namespace,
      elevated: r.elevated,
      sessionId: r.sessionId,
      expiresAt: timeOf(r.expiresAt),
    },
    issuedAt: timeOf(r.issuedAt),
    usesRemaining: r.usesRemaining,
  };
}

function namespaceDecision(r: CheckNamespaceResponse): NamespaceDecision {
  return {
    active: r.active,
    allowed: r.allowed,
    namespace: r.namespace,
    tokenId: r.tokenId,
    results: new Map(r.results.map((d) => [d.identifier, d.allowed])),
  };
}
