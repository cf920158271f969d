import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { TesseraClient, TesseraError } from "../dist/esm/index.js";
import { ALICE_PASSWORD, client, dev, fails, totp } from "./support.mjs";

describe("client against tessera dev", () => {
  let server, admin, service;
  before(async () => {
    server = await dev();
    admin = client(server, server.admin_token);
    service = admin.withToken(server.service_token);
  });
  after(() => admin.close());

  test("login opens a session and refuses bad credentials alike", async () => {
    const session = await admin.withToken("").login(server.admin_username, server.admin_password);
    assert.equal(session.user.username, server.admin_username);
    assert.ok(!String(session.token).includes(session.token.expose()), "a Secret must not print itself");
    assert.ok(!JSON.stringify(session).includes(session.token.expose()));
    assert.ok((await service.introspect(session.token.expose(), { peek: true })).active);
    await fails("INVALID_CREDENTIALS", admin.login(server.admin_username, "wrong-password"));
    await fails("INVALID_CREDENTIALS", admin.login("nobody-here", "wrong-password"));
  });

  test("issue, introspect, check and revoke", async () => {
    const token = await admin.issueToken({
      ttlSeconds: 3600,
      namespace: "deploy.",
      permissions: ["introspect"],
      maxUses: 3,
      description: "ts test",
    });
    assert.equal(token.namespace, "deploy.");
    assert.equal(token.maxUses, 3);
    const info = await service.introspect(token.token.expose());
    assert.ok(info.active);
    assert.equal(info.identity.tokenId, token.tokenId);
    assert.equal(info.identity.tokenType, "API");
    assert.equal(info.usesRemaining, 2, "introspect counts one use");
    assert.equal((await service.introspect(token.token.expose(), { peek: true })).usesRemaining, 2, "peek does not");

    const ns = await service.checkNamespace(token.token.expose(), ["deploy.web", "backup.db"]);
    assert.ok(ns.active);
    assert.equal(ns.allowed, false);
    assert.deepEqual(
      [...ns.results],
      [
        ["deploy.web", true],
        ["backup.db", false],
      ],
    );
    assert.equal(
      (await service.checkNamespace(token.token.expose(), ["deploy.web"], "admin")).allowed,
      false,
      "the action is a permission the token must hold",
    );

    const revoked = await admin.revoke({ tokenId: token.tokenId }, "ts test");
    assert.equal(revoked.revokedCount, 1n);
    assert.ok(revoked.everywhere, "a Revoke that waited is in force everywhere");
    assert.equal((await service.introspect(token.token.expose(), { peek: true })).active, false);

    const many = await Promise.all([0, 1, 2].map(() => admin.issueToken({ ttlSeconds: 600 })));
    const batch = await admin.revoke({ tokenIds: many.map((t) => t.tokenId) }, "ts test", { noWait: true });
    assert.equal(batch.revokedCount, 3n);
    assert.equal(batch.everywhere, false, "no_wait answers before the followers acknowledge");
    for (const t of many) assert.equal((await service.introspect(t.token.expose(), { peek: true })).active, false);
    const own = await admin.issueToken({ ttlSeconds: 600 });
    assert.equal((await admin.withToken(own.token.expose()).revoke({ token: own.token.expose() }, "self")).revokedCount, 1n);
  });

  test("every reason the client can provoke comes back typed", async () => {
    const plain = await admin.issueToken({ ttlSeconds: 3600, permissions: ["issue"] });
    await fails("AUTH_REQUIRED", admin.withToken("").introspect(plain.token.expose()));
    await fails("AUTH_FAILED", admin.withToken("tsr_api_not-a-real-token").introspect(plain.token.expose()));
    await fails("AUTH_DENIED", admin.withToken(plain.token.expose()).introspect(plain.token.expose()));
    const invalid = await fails("INVALID_ARGUMENT", service.checkNamespace("x", ["bad\u0001id"]));
    assert.notEqual(invalid.field, "", "INVALID_ARGUMENT names the field");
    const narrow = await admin.issueToken({ ttlSeconds: 3600, namespace: "deploy.", permissions: ["issue", "introspect"] });
    await fails("PRIVILEGE_EXCEEDED", admin.withToken(narrow.token.expose()).issueToken({ ttlSeconds: 300, namespace: "*" }));
    await fails("OVER_PRIVILEGED", admin.issueToken({ ttlSeconds: 300, permissions: ["introspect", "admin"], service: true }));
    await fails("TOKEN_NOT_FOUND", admin.admin().getToken("00000000-0000-4000-8000-000000000000"));
    await fails("USER_NOT_FOUND", admin.admin().setRole("no-such-user", "user"));
    await fails("USER_EXISTS", admin.admin().createUser({ username: "alice", password: "another-password-1" }));
    const alice = await admin.login("alice", ALICE_PASSWORD);
    await fails("ELEVATION_REQUIRED", admin.withToken(alice.token.expose()).admin().listUsers());
  });

  test("admin manages accounts, TOTP, tokens and audit", async () => {
    const a = admin.admin();
    const name = `ts-user-${Date.now()}`;
    assert.equal((await a.createUser({ username: name, password: "ts-password-1", displayName: "TS User", role: "user" })).username, name);
    assert.ok((await a.listUsers()).some((u) => u.user?.username === name));
    assert.equal((await a.setUserDisabled(name, true)).disabled, true);
    await fails("INVALID_CREDENTIALS", admin.login(name, "ts-password-1"));
    assert.equal((await a.setUserDisabled(name, false)).disabled, false);
    assert.equal((await a.setRole(name, "user")).role, "user");
    await a.setPassword(name, "ts-password-2");
    const session = await admin.login(name, "ts-password-2");
    const enrollment = await a.beginTotpEnrollment(name);
    assert.ok(enrollment.otpauthUri.startsWith("otpauth://"));
    assert.equal((await a.confirmTotpEnrollment(name, enrollment.secret, await totp(enrollment.secret))).totpEnabled, true);
    await fails("MFA_REQUIRED", admin.login(name, "ts-password-2"));
    assert.equal((await a.removeTotp(name)).totpEnabled, false);
    assert.ok((await a.listTokens(name, true)).some((t) => t.tokenId === session.tokenId));
    assert.equal((await a.getToken(session.tokenId)).tokenId, session.tokenId);
    assert.ok((await a.listAuditEvents({ since: new Date(Date.now() - 3600_000) })).length > 0);
    assert.ok((await admin.getJwks()).includes('"keys"'));
  });

  test("unlock elevates a session", async () => {
    const session = await admin.login(server.admin_username, server.admin_password);
    const elevated = await admin.withToken(session.token.expose()).unlock(server.admin_password, { ttlSeconds: 300 });
    assert.ok((await service.introspect(elevated.token.expose(), { peek: true })).identity.elevated);
  });

  test("a server that never answers meets the default deadline", async () => {
    const held = [];
    const silent = net.createServer((s) => held.push(s)).listen(0, "127.0.0.1");
    await new Promise((r) => silent.once("listening", r));
    const c = new TesseraClient(`127.0.0.1:${silent.address().port}`, { token: "tsr_svc_x", timeoutMs: 300 });
    const start = Date.now();
    try {
      await assert.rejects(c.introspect("tsr_api_x"), (e) => e.deadlineExceeded);
      assert.ok(Date.now() - start < 10_000);
    } finally {
      c.close();
      held.forEach((s) => s.destroy());
      silent.close();
    }
  });

  test("an unreachable server is UNAVAILABLE without a Tessera reason", async () => {
    const probe = net.createServer().listen(0, "127.0.0.1");
    await new Promise((r) => probe.once("listening", r));
    const port = probe.address().port;
    await new Promise((r) => probe.close(r));
    const c = new TesseraClient(`http://127.0.0.1:${port}`, { token: "tsr_svc_x" });
    try {
      await assert.rejects(c.introspect("tsr_api_x"), (e) => e.reason === undefined && e.kind === "UNAVAILABLE");
    } finally {
      c.close();
    }
    // A closed client's calls fail as such, with a stack.
    await assert.rejects(
      c.introspect("tsr_api_x"),
      (e) => e instanceof TesseraError && /shut down/.test(e.message) && e.stack.includes("\n    at "),
    );
  });
});
