package io.github.tesseraauth.client;

import io.github.tesseraauth.tessera.v1.AdminServiceGrpc;
import io.github.tesseraauth.tessera.v1.AuditEvent;
import io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest;
import io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse;
import io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest;
import io.github.tesseraauth.tessera.v1.CreateUserRequest;
import io.github.tesseraauth.tessera.v1.GetTokenRequest;
import io.github.tesseraauth.tessera.v1.ListAuditEventsRequest;
import io.github.tesseraauth.tessera.v1.ListAuditEventsResponse;
import io.github.tesseraauth.tessera.v1.ListTokensRequest;
import io.github.tesseraauth.tessera.v1.ListUsersRequest;
import io.github.tesseraauth.tessera.v1.ListUsersResponse;
import io.github.tesseraauth.tessera.v1.RemoveTotpRequest;
import io.github.tesseraauth.tessera.v1.SetPasswordRequest;
import io.github.tesseraauth.tessera.v1.SetRoleRequest;
import io.github.tesseraauth.tessera.v1.SetUserDisabledRequest;
import io.github.tesseraauth.tessera.v1.TokenInfo;
import io.github.tesseraauth.tessera.v1.User;
import io.github.tesseraauth.tessera.v1.UserSummary;
import io.grpc.Channel;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Tessera's AdminService: accounts, tokens and the audit trail. Needs an admin session or an
 * elevated token (ELEVATION_REQUIRED otherwise). Answers are the generated messages of {@code
 * io.github.tesseraauth.tessera.v1}; list calls walk every page.
 */
public final class AdminClient {
  private final Channel channel;
  private final Duration timeout;

  AdminClient(Channel channel, Duration timeout) {
    this.channel = channel;
    this.timeout = timeout;
  }

  private AdminServiceGrpc.AdminServiceBlockingStub stub() {
    return AdminServiceGrpc.newBlockingStub(channel)
        .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Creates an account (USER_EXISTS when the name is taken). */
  public User createUser(String username, String displayName, String role, String password) {
    return TesseraClient.call(
            () ->
                stub()
                    .createUser(
                        CreateUserRequest.newBuilder()
                            .setUsername(username)
                            .setDisplayName(displayName == null ? "" : displayName)
                            .setRole(role == null ? "" : role)
                            .setPassword(password)
                            .build()))
        .getUser();
  }

  /** Every account, all pages. */
  public List<UserSummary> listUsers() {
    List<UserSummary> out = new ArrayList<>();
    String page = "";
    do {
      String token = page;
      ListUsersResponse r =
          TesseraClient.call(
              () -> stub().listUsers(ListUsersRequest.newBuilder().setPageToken(token).build()));
      out.addAll(r.getUsersList());
      page = r.getNextPageToken();
    } while (!page.isEmpty());
    return out;
  }

  public UserSummary setUserDisabled(String username, boolean disabled) {
    return TesseraClient.call(
            () ->
                stub()
                    .setUserDisabled(
                        SetUserDisabledRequest.newBuilder()
                            .setUsername(username)
                            .setDisabled(disabled)
                            .build()))
        .getUser();
  }

  public User setRole(String username, String role) {
    return TesseraClient.call(
            () ->
                stub()
                    .setRole(
                        SetRoleRequest.newBuilder().setUsername(username).setRole(role).build()))
        .getUser();
  }

  public void setPassword(String username, String password) {
    TesseraClient.call(
        () ->
            stub()
                .setPassword(
                    SetPasswordRequest.newBuilder()
                        .setUsername(username)
                        .setPassword(password)
                        .build()));
  }

  /** Starts TOTP enrollment: the secret and its otpauth:// URI (both secrets). */
  public BeginTotpEnrollmentResponse beginTotpEnrollment(String username) {
    return TesseraClient.call(
        () ->
            stub()
                .beginTotpEnrollment(
                    BeginTotpEnrollmentRequest.newBuilder().setUsername(username).build()));
  }

  public User confirmTotpEnrollment(String username, String secret, String code) {
    return TesseraClient.call(
            () ->
                stub()
                    .confirmTotpEnrollment(
                        ConfirmTotpEnrollmentRequest.newBuilder()
                            .setUsername(username)
                            .setSecret(secret)
                            .setCode(code)
                            .build()))
        .getUser();
  }

  public User removeTotp(String username) {
    return TesseraClient.call(
            () -> stub().removeTotp(RemoveTotpRequest.newBuilder().setUsername(username).build()))
        .getUser();
  }

  /** An account's tokens; with {@code includeInactive} also expired and revoked ones. */
  public List<TokenInfo> listTokens(String username, boolean includeInactive) {
    return TesseraClient.call(
            () ->
                stub()
                    .listTokens(
                        ListTokensRequest.newBuilder()
                            .setUsername(username)
                            .setIncludeInactive(includeInactive)
                            .build()))
        .getTokensList();
  }

  /** One token by id (TOKEN_NOT_FOUND when there is none). */
  public TokenInfo getToken(String tokenId) {
    return TesseraClient.call(
            () -> stub().getToken(GetTokenRequest.newBuilder().setTokenId(tokenId).build()))
        .getToken();
  }

  /** Audit events, newest first, all pages; empty strings and null instants filter nothing. */
  public List<AuditEvent> listAuditEvents(
      String actor, String action, Instant since, Instant until) {
    List<AuditEvent> out = new ArrayList<>();
    String page = "";
    do {
      ListAuditEventsRequest.Builder req =
          ListAuditEventsRequest.newBuilder()
              .setPageToken(page)
              .setActor(actor == null ? "" : actor)
              .setAction(action == null ? "" : action);
      if (since != null) {
        req.setSince(Convert.timestamp(since));
      }
      if (until != null) {
        req.setUntil(Convert.timestamp(until));
      }
      ListAuditEventsResponse r = TesseraClient.call(() -> stub().listAuditEvents(req.build()));
      out.addAll(r.getEventsList());
      page = r.getNextPageToken();
    } while (!page.isEmpty());
    return out;
  }
}
