package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse;
import io.github.tesseraauth.tessera.v1.TokenInfo;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every AuthService and AdminService call against the real server, and the reasons it answers. */
class ClientTest {
  static Dev dev;
  static TesseraClient admin;
  static TesseraClient service;

  @BeforeAll
  static void start() {
    dev = Dev.shared();
    admin = dev.client(dev.adminToken);
    service = admin.withToken(dev.serviceToken);
  }

  @AfterAll
  static void close() {
    admin.close();
  }

  @Test
  void loginOpensASessionAndRefusesBadCredentialsAlike() {
    Session session = admin.withToken("").login(dev.adminUsername, dev.adminPassword);
    assertEquals(dev.adminUsername, session.user().getUsername());
    assertFalse(
        session.token().toString().contains(session.token().expose()),
        "a Secret must not print itself");
    assertTrue(service.introspect(session.token().expose(), true).active());
    Dev.fails(Reason.INVALID_CREDENTIALS, () -> admin.login(dev.adminUsername, "wrong-password"));
    Dev.fails(Reason.INVALID_CREDENTIALS, () -> admin.login("nobody-here", "wrong-password"));
  }

  @Test
  void issueIntrospectCheckAndRevoke() {
    IssuedToken token =
        admin.issueToken(
            IssueParams.ttl(Duration.ofHours(1))
                .withNamespace("deploy.")
                .withPermissions(List.of("introspect"))
                .withMaxUses(3)
                .withDescription("java test"));
    assertEquals("deploy.", token.namespace());
    assertEquals(3, token.maxUses().getAsLong());
    Introspection info = service.introspect(token.token().expose());
    assertTrue(info.active());
    assertEquals(token.tokenId(), info.identity().tokenId());
    assertEquals("API", info.identity().tokenType());
    assertEquals(2, info.usesRemaining().getAsLong(), "introspect counts one use");
    assertEquals(
        2,
        service.introspect(token.token().expose(), true).usesRemaining().getAsLong(),
        "peek does not");

    NamespaceDecision ns =
        service.checkNamespace(token.token().expose(), List.of("deploy.web", "backup.db"), "");
    assertTrue(ns.active());
    assertFalse(ns.allowed());
    assertEquals(Map.of("deploy.web", true, "backup.db", false), ns.results());
    assertTrue(
        service
            .checkNamespaceAsync(token.token().expose(), List.of("deploy.x"), "")
            .join()
            .allowed());
    assertTrue(service.introspectAsync(token.token().expose()).join().active());

    RevokeResult revoked = admin.revoke(RevokeTarget.tokenId(token.tokenId()), "java test");
    assertEquals(1, revoked.revokedCount());
    assertTrue(revoked.everywhere(), "a Revoke that waited is in force everywhere");
    assertFalse(service.introspect(token.token().expose(), true).active());
    assertFalse(service.checkNamespace(token.token().expose(), List.of("deploy.web"), "").active());
    // The action is a permission the token must also hold.
    IssuedToken other =
        admin.issueToken(
            IssueParams.ttl(Duration.ofMinutes(5))
                .withNamespace("deploy.")
                .withPermissions(List.of("introspect")));
    assertFalse(
        service.checkNamespace(other.token().expose(), List.of("deploy.web"), "admin").allowed());

    List<String> ids = new ArrayList<>();
    List<String> secrets = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      IssuedToken t = admin.issueToken(IssueParams.ttl(Duration.ofMinutes(10)));
      ids.add(t.tokenId());
      secrets.add(t.token().expose());
    }
    RevokeResult many = admin.revoke(RevokeTarget.tokenIds(ids), "java test", true);
    assertEquals(3, many.revokedCount());
    assertFalse(many.everywhere(), "no_wait answers before the followers acknowledge");
    for (String secret : secrets) {
      assertFalse(service.introspect(secret, true).active());
    }
    IssuedToken own = admin.issueToken(IssueParams.ttl(Duration.ofMinutes(10)));
    assertEquals(
        1,
        admin
            .withToken(own.token().expose())
            .revoke(RevokeTarget.token(own.token().expose()), "self")
            .revokedCount());
    assertEquals(0, admin.revoke(RevokeTarget.tokenId(own.tokenId()), "again").revokedCount());
  }

  @Test
  void everyReasonTheClientCanProvokeComesBackTyped() {
    IssuedToken plain =
        admin.issueToken(IssueParams.ttl(Duration.ofHours(1)).withPermissions(List.of("issue")));
    Dev.fails(Reason.AUTH_REQUIRED, () -> admin.withToken("").introspect(plain.token().expose()));
    Dev.fails(
        Reason.AUTH_FAILED,
        () -> admin.withToken("tsr_api_not-a-real-token").introspect(plain.token().expose()));
    Dev.fails(
        Reason.AUTH_DENIED,
        () -> admin.withToken(plain.token().expose()).introspect(plain.token().expose()));
    TesseraException field =
        Dev.fails(
            Reason.INVALID_ARGUMENT,
            () -> service.checkNamespace("x", List.of("bad\u0001id"), "read"));
    assertFalse(field.field().isEmpty(), "INVALID_ARGUMENT names the field");
    IssuedToken narrow =
        admin.issueToken(
            IssueParams.ttl(Duration.ofHours(1))
                .withNamespace("deploy.")
                .withPermissions(List.of("issue", "introspect")));
    Dev.fails(
        Reason.PRIVILEGE_EXCEEDED,
        () ->
            admin
                .withToken(narrow.token().expose())
                .issueToken(IssueParams.ttl(Duration.ofMinutes(5)).withNamespace("*")));
    Dev.fails(
        Reason.OVER_PRIVILEGED,
        () ->
            admin.issueToken(
                IssueParams.ttl(Duration.ofMinutes(5))
                    .withPermissions(List.of("introspect", "admin"))
                    .asService()));
    Dev.fails(
        Reason.TOKEN_NOT_FOUND,
        () -> admin.admin().getToken("00000000-0000-4000-8000-000000000000"));
    Dev.fails(Reason.USER_NOT_FOUND, () -> admin.admin().setRole("no-such-user", "user"));
    Dev.fails(
        Reason.USER_EXISTS,
        () -> admin.admin().createUser("alice", "Alice", "user", "another-password-1"));
    Session alice = admin.login("alice", Dev.ALICE_PASSWORD);
    TesseraClient asAlice = admin.withToken(alice.token().expose());
    Dev.fails(Reason.ELEVATION_REQUIRED, () -> asAlice.admin().listUsers());
    TesseraException unknownCode = TesseraException.refused(Reason.UNAVAILABLE, "", "x");
    assertEquals(Reason.UNAVAILABLE, unknownCode.kind());
  }

  @Test
  void adminManagesAccountsTotpTokensAndAudit() {
    AdminClient a = admin.admin();
    String name = "java-user-" + System.nanoTime();
    assertEquals(name, a.createUser(name, "Java User", "user", "java-password-1").getUsername());
    assertTrue(a.listUsers().stream().anyMatch(u -> u.getUser().getUsername().equals(name)));
    assertTrue(a.setUserDisabled(name, true).getDisabled());
    Dev.fails(Reason.INVALID_CREDENTIALS, () -> admin.login(name, "java-password-1"));
    assertFalse(a.setUserDisabled(name, false).getDisabled());
    assertEquals("user", a.setRole(name, "user").getRole());
    a.setPassword(name, "java-password-2");
    Session session = admin.login(name, "java-password-2");
    BeginTotpEnrollmentResponse enrollment = a.beginTotpEnrollment(name);
    assertTrue(enrollment.getOtpauthUri().startsWith("otpauth://"));
    assertTrue(
        a.confirmTotpEnrollment(
                name, enrollment.getSecret(), Dev.totp(enrollment.getSecret(), Instant.now()))
            .getTotpEnabled());
    Dev.fails(Reason.MFA_REQUIRED, () -> admin.login(name, "java-password-2"));
    assertFalse(a.removeTotp(name).getTotpEnabled());
    List<TokenInfo> tokens = a.listTokens(name, true);
    assertTrue(tokens.stream().anyMatch(t -> t.getTokenId().equals(session.tokenId())));
    assertEquals(session.tokenId(), a.getToken(session.tokenId()).getTokenId());
    assertFalse(a.listAuditEvents("", "", Instant.now().minusSeconds(3600), null).isEmpty());
    assertTrue(admin.getJwks().contains("\"keys\""));
  }

  @Test
  void unlockElevatesASession() {
    Session session = admin.login(dev.adminUsername, dev.adminPassword);
    IssuedToken elevated =
        admin
            .withToken(session.token().expose())
            .unlock(dev.adminPassword, null, Duration.ofMinutes(5));
    Introspection info = service.introspect(elevated.token().expose(), true);
    assertTrue(info.identity().elevated());
    assertNotEquals(session.tokenId(), elevated.tokenId());
  }

  @Test
  @SuppressWarnings("ModifiedButNotUsed") // the accepted sockets are only held open, never read
  void aServerThatNeverAnswersMeetsTheDefaultDeadline() throws IOException {
    try (ServerSocket silent = new ServerSocket(0, 16, java.net.InetAddress.getLoopbackAddress())) {
      List<Socket> held = new ArrayList<>();
      Thread accept =
          new Thread(
              () -> {
                try {
                  while (true) {
                    held.add(silent.accept());
                  }
                } catch (IOException e) {
                  // closed
                }
              });
      accept.setDaemon(true);
      accept.start();
      try (TesseraClient c =
          TesseraClient.builder("127.0.0.1:" + silent.getLocalPort())
              .token("tsr_svc_x")
              .defaultTimeout(Duration.ofMillis(300))
              .build()) {
        long start = System.nanoTime();
        TesseraException e =
            org.junit.jupiter.api.Assertions.assertThrows(
                TesseraException.class, () -> c.introspect("tsr_api_x"));
        assertTrue(e.isDeadlineExceeded(), e.toString());
        assertTrue(
            Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(10)) < 0);
      }
    }
  }

  @Test
  void anUnreachableServerIsUnavailable() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    try (TesseraClient c =
        TesseraClient.builder("http://127.0.0.1:" + port).token("tsr_svc_x").build()) {
      TesseraException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              TesseraException.class, () -> c.introspect("tsr_api_x"));
      assertEquals(null, e.reason(), "a transport failure carries no Tessera reason");
      assertEquals(Reason.UNAVAILABLE, e.kind());
    }
  }
}
