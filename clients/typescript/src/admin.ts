import type { MessageShape } from "@bufbuild/protobuf";
import { unary } from "./rpc.js";
import type { Headers, Transport } from "./transport.js";
import {
  AdminService,
  type AuditEventSchema,
  type BeginTotpEnrollmentResponse,
  type TokenInfoSchema,
  type UserSummarySchema,
} from "./gen/tessera/v1/admin_pb.js";
import type { UserSchema } from "./gen/tessera/v1/auth_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";

export type User = MessageShape<typeof UserSchema>;
export type UserSummary = MessageShape<typeof UserSummarySchema>;
export type TokenInfo = MessageShape<typeof TokenInfoSchema>;
export type AuditEvent = MessageShape<typeof AuditEventSchema>;

/**
 * Tessera's AdminService: accounts, tokens and the audit trail. Needs an admin session or an
 * elevated token (ELEVATION_REQUIRED otherwise). Answers are the generated messages; list calls
 * walk every page.
 */
export class AdminClient {
  /** @internal made by TesseraClient.admin() */
  constructor(
    private readonly transport: Transport,
    private readonly headers: () => Headers | Promise<Headers>,
    private readonly deadline: () => number,
  ) {}

  /** Creates an account (USER_EXISTS when the name is taken). */
  async createUser(user: { username: string; password: string; displayName?: string; role?: string }): Promise<User> {
    const r = await unary(
      this.transport,
      AdminService.method.createUser,
      { displayName: "", role: "", ...user },
      this.headers(),
      this.deadline(),
    );
    return r.user!;
  }

  async listUsers(): Promise<UserSummary[]> {
    const out: UserSummary[] = [];
    let pageToken = "";
    do {
      const r = await unary(this.transport, AdminService.method.listUsers, { pageToken }, this.headers(), this.deadline());
      out.push(...r.users);
      pageToken = r.nextPageToken;
    } while (pageToken);
    return out;
  }

  async setUserDisabled(username: string, disabled: boolean): Promise<UserSummary> {
    return (await unary(this.transport, AdminService.method.setUserDisabled, { username, disabled }, this.headers(), this.deadline()))
      .user!;
  }

  async setRole(username: string, role: string): Promise<User> {
    return (await unary(this.transport, AdminService.method.setRole, { username, role }, this.headers(), this.deadline())).user!;
  }

  async setPassword(username: string, password: string): Promise<void> {
    await unary(this.transport, AdminService.method.setPassword, { username, password }, this.headers(), this.deadline());
  }

  /** Starts TOTP enrollment: the secret and its otpauth:// URI (both secrets). */
  async beginTotpEnrollment(username: string): Promise<BeginTotpEnrollmentResponse> {
    return unary(this.transport, AdminService.method.beginTotpEnrollment, { username }, this.headers(), this.deadline());
  }

  async confirmTotpEnrollment(username: string, secret: string, code: string): Promise<User> {
    return (
      await unary(this.transport, AdminService.method.confirmTotpEnrollment, { username, secret, code }, this.headers(), this.deadline())
    ).user!;
  }

  async removeTotp(username: string): Promise<User> {
    return (await unary(this.transport, AdminService.method.removeTotp, { username }, this.headers(), this.deadline())).user!;
  }

  /** An account's tokens; with includeInactive also expired and revoked ones. */
  async listTokens(username: string, includeInactive = false): Promise<TokenInfo[]> {
    return (await unary(this.transport, AdminService.method.listTokens, { username, includeInactive }, this.headers(), this.deadline()))
      .tokens;
  }

  /** One token by id (TOKEN_NOT_FOUND when there is none). */
  async getToken(tokenId: string): Promise<TokenInfo> {
    return (await unary(this.transport, AdminService.method.getToken, { tokenId }, this.headers(), this.deadline())).token!;
  }

  /** Audit events, newest first, all pages. */
  async listAuditEvents(filter: { actor?: string; action?: string; since?: Date; until?: Date } = {}): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    let pageToken = "";
    do {
      const r = await unary(
        this.transport,
        AdminService.method.listAuditEvents,
        {
          actor: filter.actor ?? "",
          action: filter.action ?? "",
          since: filter.since ? timestampFromDate(filter.since) : undefined,
          until: filter.until ? timestampFromDate(filter.until) : undefined,
          pageToken,
        },
        this.headers(),
        this.deadline(),
      );
      out.push(...r.events);
      pageToken = r.nextPageToken;
    } while (pageToken);
    return out;
  }
}
