/**
 * Tessera's Node.js/TypeScript client: typed calls to the AuthService and AdminService (unary calls
 * over the client's own HTTP/2 connections, revocation watches over @grpc/grpc-js), errors carrying the reason of Tessera's one reason table, failover across replicas,
 * TLS and mutual TLS from files, a revocation watch with resume and resync, OpenTelemetry
 * propagation, default deadlines, and guards for Express/Connect (Fastify) and grpc-js servers.
 */
export { TesseraClient, type ClientOptions, type TokenSource } from "./client.js";
export { AdminClient, type AuditEvent, type TokenInfo, type User, type UserSummary } from "./admin.js";
export { ADDRESS_FORMS, parseAddress, type ServerAddress } from "./address.js";
export { fromGrpcError, isReason, REASON_CODES, TesseraError, type Reason } from "./errors.js";
export type { TlsFiles } from "./channel.js";
export {
  authorize,
  authorizeRequest,
  bearer,
  httpRefusal,
  identityFromMetadata,
  identityOf,
  IDENTITY_METADATA_KEY,
  tesseraMiddleware,
  tesseraServerInterceptor,
  type Decision,
  type GuardOptions,
} from "./guard.js";
export { Watch, type WatchHandlers, type WatchOptions } from "./watch.js";
export {
  formatTtl,
  Secret,
  type Access,
  type Acknowledgement,
  type Identity,
  type Introspection,
  type IssuedToken,
  type IssueParams,
  type NamespaceDecision,
  type Revocation,
  type RevokeResult,
  type RevokeTarget,
  type Session,
} from "./types.js";
/** The generated messages and service descriptors (protoc-gen-es), for direct use. */
export * as pb from "./gen/tessera/v1/auth_pb.js";
export * as adminPb from "./gen/tessera/v1/admin_pb.js";
