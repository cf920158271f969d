// Guards for the services that call Tessera: an Express/Connect middleware (Fastify: through
// @fastify/middie, or authorizeRequest in a preHandler hook) and a grpc-js server interceptor. Each
// asks Tessera (CheckNamespace first when the request names identifiers, since it never consumes a
// use; then Introspect, which yields the identity) and fails closed when Tessera cannot decide.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import type { TesseraClient } from "./client.js";
import { fromGrpcError, statusWithReason, type Reason } from "./errors.js";
import type { Access, Identity } from "./types.js";

type Verdict = "allowed" | "noToken" | "malformed" | "invalidToken" | "outOfScope" | "badRequest" | "unavailable";

/** A guard's decision on one request; never holds a secret. */
export interface Decision {
  verdict: Verdict;
  detail: string;
  /** The reason the answer carries. */
  reason: Reason | undefined;
  field: string;
  identity: Identity | undefined;
}

const decision = (verdict: Verdict, detail: string, reason?: Reason, field = ""): Decision => ({
  verdict,
  detail,
  reason,
  field,
  identity: undefined,
});

const MAX_TOKEN_LEN = 4096;

/**
 * Reads a bearer credential as Tessera's HTTP edge does: another scheme is no bearer token at all (it
 * may be meant for the handler), while a Bearer credential that cannot be a token is malformed.
 */
export function bearer(values: string[]): string | Decision {
  if (values.length === 0) return decision("noToken", "no token", "AUTH_REQUIRED");
  const bad = (why: string) => decision("malformed", `malformed authorization header: ${why}`, "AUTH_FAILED");
  if (values.length > 1) return bad("more than one authorization header");
  const value = values[0]!;
  if (/[^\t\x20-\x7e]/.test(value)) return bad("not text");
  const at = value.search(/[ \t]/);
  const scheme = at < 0 ? value : value.slice(0, at);
  if (scheme.toLowerCase() !== "bearer") return decision("noToken", "no token", "AUTH_REQUIRED");
  const rest = at < 0 ? "" : value.slice(at + 1);
  if (at >= 0 && value[at] === "\t") return bad("bearer token after a tab");
  if (rest === "") return bad("bearer without a token");
  if (rest.length > MAX_TOKEN_LEN) return bad("token too long");
  if (/[ \t]/.test(rest)) return bad("token contains spaces");
  if (/["\\,;]/.test(rest)) return bad("token contains characters no token has");
  return rest;
}

/** Optional logging of why Tessera could not decide (the client's view, never a token). */
export interface GuardOptions {
  onUndecided?: (error: Error) => void;
}

/** Decides on token for access: the one decision every guard makes. */
export async function authorize(
  client: TesseraClient,
  token: string,
  access: Access | undefined,
  options: GuardOptions = {},
): Promise<Decision> {
  try {
    if (access && access.identifiers.length > 0) {
      const ns = await client.checkNamespace(token, access.identifiers, access.action ?? "");
      if (!ns.active) return decision("invalidToken", "the token is not active", "AUTH_FAILED");
      if (!ns.allowed) return decision("outOfScope", "insufficient namespace scope", "AUTH_DENIED");
    }
    const info = await client.introspect(token);
    if (!info.active) return decision("invalidToken", "the token is not active", "AUTH_FAILED");
    return { verdict: "allowed", detail: "", reason: undefined, field: "", identity: info.identity };
  } catch (error) {
    // Bad input the request brought is the caller's fault; anything else fails closed.
    const e = fromGrpcError(error);
    if (e.kind === "INVALID_ARGUMENT") {
      if (e.field === "token") return decision("invalidToken", "the token is not active", "AUTH_FAILED", e.field);
      return decision(
        "badRequest",
        e.field ? `tessera rejected field ${e.field}` : "tessera rejected the request",
        "INVALID_ARGUMENT",
        e.field,
      );
    }
    options.onUndecided?.(e);
    const kind = e.kind ?? "UNAVAILABLE";
    let detail = "the authentication service is unavailable";
    if (["AUTH_REQUIRED", "AUTH_FAILED", "AUTH_DENIED", "PRIVILEGE_EXCEEDED", "ELEVATION_REQUIRED", "OVER_PRIVILEGED"].includes(kind)) {
      // Tessera refused the guard's own token: the operator's problem, not the caller's.
      detail = "the authentication service cannot decide right now";
    } else if (kind === "RESOURCE_EXHAUSTED") {
      detail = "the authentication service is busy";
    }
    return decision("unavailable", detail, kind === "RESOURCE_EXHAUSTED" ? kind : "UNAVAILABLE");
  }
}

/** The identity a guard stored on a request (Express/Connect/Fastify's raw request). */
export function identityOf(req: object): Identity | undefined {
  return (req as { tessera?: Identity }).tessera;
}

/** The HTTP answer of a refusal, as Tessera's HTTP edge gives it (RFC 6750, JSON body). */
export function httpRefusal(d: Decision): { status: number; headers: Record<string, string>; body: string } {
  let status = 503;
  let error = "temporarily_unavailable";
  let challenge = "";
  const headers: Record<string, string> = {
    "cache-control": "no-store",
    "content-type": "application/json",
    "x-content-type-options": "nosniff",
  };
  switch (d.verdict) {
    case "noToken":
    case "invalidToken":
      [status, error, challenge] = [401, "invalid_token", "invalid_token"];
      break;
    case "malformed":
      [status, error, challenge] = [400, "invalid_request", "invalid_request"];
      break;
    case "badRequest":
      [status, error] = [400, "invalid_request"];
      break;
    case "outOfScope":
      [status, error, challenge] = [403, "insufficient_scope", "insufficient_scope"];
      break;
    default:
      headers["retry-after"] = "1";
  }
  if (challenge) {
    headers["www-authenticate"] = `Bearer realm="tessera", error="${challenge}", error_description="${d.detail.replace(/["\\]/g, "'")}"`;
  }
  const body: Record<string, string> = { error, error_description: d.detail };
  if (d.reason) body.tessera_reason = d.reason.toLowerCase();
  if (d.field) body.field = d.field;
  return { status, headers, body: JSON.stringify(body) };
}

/** The Authorization header values of a Node request, duplicates kept (Node folds them otherwise). */
function authorizationValues(req: IncomingMessage): string[] {
  const distinct = (req as IncomingMessage & { headersDistinct?: Record<string, string[]> }).headersDistinct;
  if (distinct) return distinct.authorization ?? [];
  const one = req.headers.authorization;
  return one === undefined ? [] : [one];
}

/**
 * Decides on a Node HTTP request: for Fastify's preHandler hooks (pass request.raw) and anything
 * else that is not Connect-shaped. Allowed requests get the identity (identityOf(req)).
 */
export async function authorizeRequest(
  client: TesseraClient,
  req: IncomingMessage,
  access?: Access,
  options: GuardOptions = {},
): Promise<Decision> {
  const token = bearer(authorizationValues(req));
  const d = typeof token === "string" ? await authorize(client, token, access, options) : token;
  if (d.verdict === "allowed") (req as { tessera?: Identity }).tessera = d.identity;
  return d;
}

/**
 * An Express/Connect middleware: reads "Authorization: Bearer <token>", asks Tessera, and puts the
 * caller's identity on the request (identityOf(req)). Refusals: 401 invalid_token (no token, or one
 * that is not active: revoked, expired, used up), 400 invalid_request, 403 insufficient_scope, 503
 * with Retry-After when Tessera cannot decide; each with tessera_reason.
 *
 *     app.use("/jobs", tesseraMiddleware(tessera, { access: (req) => ({ identifiers: [req.path.slice(1)] }) }));
 */
export function tesseraMiddleware<Req extends IncomingMessage = IncomingMessage>(
  client: TesseraClient,
  options: GuardOptions & { access?: (req: Req) => Access | undefined } = {},
): (req: Req, res: ServerResponse, next: (err?: unknown) => void) => void {
  return (req, res, next) => {
    authorizeRequest(client, req, options.access?.(req), options).then(
      (d) => {
        if (d.verdict === "allowed") return next();
        const answer = httpRefusal(d);
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      },
      (error) => next(error),
    );
  };
}

/** The metadata key under which the gRPC guard hands the identity to handlers (as JSON). */
export const IDENTITY_METADATA_KEY = "x-tessera-identity";

/** The identity the gRPC guard stored for a call: identityFromMetadata(call.metadata). */
export function identityFromMetadata(metadata: Metadata): Identity | undefined {
  const [raw] = metadata.get(IDENTITY_METADATA_KEY);
  if (typeof raw !== "string") return undefined;
  const parsed = JSON.parse(raw) as Identity & { expiresAt?: string };
  return { ...parsed, expiresAt: parsed.expiresAt ? new Date(parsed.expiresAt) : undefined };
}

function grpcAnswer(d: Decision) {
  const reason: Reason =
    d.verdict === "noToken"
      ? "AUTH_REQUIRED"
      : d.verdict === "invalidToken" || d.verdict === "malformed"
        ? "AUTH_FAILED"
        : d.verdict === "outOfScope"
          ? "AUTH_DENIED"
          : d.verdict === "badRequest"
            ? "INVALID_ARGUMENT"
            : "UNAVAILABLE";
  return statusWithReason(reason, d.verdict === "badRequest" ? d.field : "", d.detail);
}

/**
 * A grpc-js server interceptor (`new Server({ interceptors: [tesseraServerInterceptor(tessera)] })`):
 * reads "authorization: Bearer <token>", asks Tessera, and hands the identity to the handler in its
 * metadata (identityFromMetadata(call.metadata); a client cannot forge it: the guard replaces the
 * key). The access rule sees the method path and, for methods with a single request message, that
 * message (undefined for client-streaming methods). Refusals carry ErrorInfo like Tessera's own:
 * UNAUTHENTICATED AUTH_REQUIRED / AUTH_FAILED (revoked tokens among them), PERMISSION_DENIED
 * AUTH_DENIED, INVALID_ARGUMENT, UNAVAILABLE (fail closed).
 */
export function tesseraServerInterceptor(
  client: TesseraClient,
  options: GuardOptions & { access?: (path: string, request: unknown) => Access | undefined; skip?: string[] } = {},
): ServerInterceptor {
  return (method: ServerMethodDefinition<unknown, unknown>, call: ServerInterceptingCallInterface) => {
    if (options.skip?.includes(method.path)) return new ServerInterceptingCall(call);
    const waitsForMessage = !method.requestStream && options.access !== undefined;
    let held: Metadata | undefined;
    let heldNext: ((md: Metadata) => void) | undefined;
    let refused = false;
    let allowed = false;
    let forwarded = false; // the held request message went on
    let pendingHalfClose: (() => void) | undefined;
    const refuse = (d: Decision) => {
      refused = true;
      call.sendStatus(grpcAnswer(d));
    };
    const decide = async (metadata: Metadata, request: unknown): Promise<Metadata | undefined> => {
      const values = metadata.get("authorization").map(String);
      const token = bearer(values);
      const d = typeof token === "string" ? await authorize(client, token, options.access?.(method.path, request), options) : token;
      if (d.verdict !== "allowed") {
        refuse(d);
        return undefined;
      }
      metadata.set(IDENTITY_METADATA_KEY, JSON.stringify(d.identity));
      allowed = true;
      return metadata;
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            metadata.remove(IDENTITY_METADATA_KEY);
            if (waitsForMessage) {
              // Hold the metadata (the handler starts on it) until the request message is in.
              held = metadata;
              heldNext = nextMetadata;
              call.startRead();
              return;
            }
            void decide(metadata, undefined).then((md) => md && nextMetadata(md));
          },
          onReceiveMessage(message, nextMessage) {
            if (refused) return;
            if (!waitsForMessage || allowed) return nextMessage(message);
            void decide(held!, message).then((md) => {
              if (!md) return;
              // Handing the metadata on lets the handler read, which may deliver a half-close at
              // once: it waits (pendingHalfClose) until the message went first.
              heldNext!(md);
              nextMessage(message);
              forwarded = true;
              pendingHalfClose?.();
            });
          },
          onReceiveHalfClose(nextHalfClose) {
            if (refused) return;
            if (!waitsForMessage || forwarded) return nextHalfClose();
            pendingHalfClose = nextHalfClose;
          },
        });
      },
    });
  };
}
