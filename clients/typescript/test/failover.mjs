import { test } from "node:test";
import assert from "node:assert/strict";
import { TesseraClient } from "../dist/esm/index.js";
import { client, dev, makePki, replica } from "./support.mjs";

// The failover test of the Go and Python clients: issue, check, revoke and check again in a loop
// through a client given two TLS replicas (the second requires a client certificate: mutual TLS);
// the preferred one is killed midway. Calls move to the other, no revoked token is ever accepted,
// and no acknowledged revocation is lost.
test("failover when a replica dies mid-load", async () => {
  const server = await dev();
  const pki = makePki();
  const first = await replica(server, pki, "first");
  const second = await replica(server, pki, "second", "--client-ca", pki.clientCa);
  const tls = { caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey };
  const admin = new TesseraClient([`https://${first.addr}`, `https://${second.addr}`], {
    tls,
    token: server.admin_token,
    timeoutMs: 20_000,
  });
  const without = new TesseraClient(`https://${second.addr}`, { tls: { caFile: pki.ca }, token: server.service_token, timeoutMs: 5000 });
  try {
    await assert.rejects(
      without.introspect(server.service_token, { peek: true }),
      (e) => e.kind === "UNAVAILABLE",
      "mutual TLS refuses a client without a certificate",
    );
    const service = admin.withToken(server.service_token);
    // A revocation watch through the same replicas must ride out the kill: it reconnects to the
    // other replica and resumes after the last sequence, so it sees every revocation once.
    const watched = [];
    const watchErrors = [];
    const watch = service.watchRevocations(
      { fromHead: true, minBackoffMs: 20, maxBackoffMs: 200 },
      { onRevocation: (r) => watched.push(r), onError: (e) => watchErrors.push(e) },
    );
    const acknowledged = [];
    let acceptedAfterRevoke = 0;
    let ambiguous = 0;
    let killedAt = 0;
    let failover = 0;
    for (let round = 0; round < 60; round++) {
      if (round === 20) {
        first.child.kill("SIGKILL");
        killedAt = performance.now();
      }
      let issued;
      try {
        issued = await admin.issueToken({ ttlSeconds: 600, maxUses: 5 });
      } catch (e) {
        // Sent as the replica died: maybe issued, maybe not; never re-sent.
        assert.equal(e.kind, "UNAVAILABLE", String(e));
        ambiguous++;
        continue;
      }
      if (killedAt && !failover) failover = performance.now() - killedAt;
      assert.ok((await service.introspect(issued.token.expose(), { peek: true })).active, `round ${round}: a fresh token is not active`);
      await admin.revoke({ tokenId: issued.tokenId }, "failover test");
      acknowledged.push(issued.tokenId);
      if ((await service.introspect(issued.token.expose(), { peek: true })).active) acceptedAfterRevoke++;
    }
    assert.ok(failover > 0, "no call succeeded after the kill");
    assert.equal(acceptedAfterRevoke, 0, "revoked tokens were accepted");
    assert.ok(ambiguous <= 1, `${ambiguous} calls failed; only one in flight at the kill may`);
    // Every acknowledged revocation is in the database, as the shared dev server sees it.
    const check = client(server, server.admin_token);
    try {
      for (const id of acknowledged) assert.ok((await check.admin().getToken(id)).revokedAt, `acknowledged revocation of ${id} lost`);
    } finally {
      check.close();
    }
    assert.ok(acknowledged.length >= 55, `only ${acknowledged.length} rounds completed`);
    const ids = () => watched.filter((r) => !r.checkpoint).map((r) => r.tokenId);
    for (let waited = 0; ids().length < acknowledged.length && waited < 30_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await watch.close();
    assert.deepEqual(watchErrors, [], "the watch ended");
    assert.equal(new Set(ids()).size, ids().length, "the watch delivered a revocation twice");
    assert.ok(
      acknowledged.every((id) => ids().includes(id)),
      "the watch missed revocations across the failover",
    );
    assert.ok(
      watched.every((r, i) => i === 0 || r.sequence >= watched[i - 1].sequence),
      "out of order",
    );
    console.log(
      `typescript failover: ${failover.toFixed(1)} ms from kill to the next successful call, ${ambiguous} call(s) in flight failed, ${acceptedAfterRevoke} revoked tokens accepted, ${acknowledged.length} acknowledged revocations kept`,
    );
  } finally {
    admin.close();
    without.close();
    second.child.kill("SIGKILL");
  }
});

// grpc-js checks one host name per channel; the client gives each replica's connections their own,
// so replicas may hold certificates for different names. Here the first names only localhost and the
// second only 127.0.0.1: checked against the first address's name, the second would be refused.
test("TLS over several replicas checks each certificate against its own replica's host name", async () => {
  const server = await dev();
  const pki = makePki();
  const named = await replica(server, { serverCert: pki.localhostCert.cert, serverKey: pki.localhostCert.key }, "named");
  const numbered = await replica(server, { serverCert: pki.ipCert.cert, serverKey: pki.ipCert.key }, "numbered");
  const port = (r) => r.addr.slice(r.addr.lastIndexOf(":") + 1);
  const options = { tls: { caFile: pki.ca }, token: server.service_token, timeoutMs: 5000 };
  const tessera = new TesseraClient([`https://localhost:${port(named)}`, `https://127.0.0.1:${port(numbered)}`], options);
  // The same replicas under each other's names: both certificates must be refused.
  const swapped = new TesseraClient([`https://127.0.0.1:${port(named)}`, `https://localhost:${port(numbered)}`], options);
  try {
    await assert.rejects(swapped.getJwks(), (e) => e.kind === "UNAVAILABLE", "a certificate for another name was accepted");
    assert.ok((await tessera.introspect(server.service_token, { peek: true })).active);
    named.child.kill("SIGKILL");
    let last;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      try {
        last = undefined;
        assert.ok((await tessera.introspect(server.service_token, { peek: true })).active);
        break;
      } catch (e) {
        // The connection to the killed replica fails first; then only a refused certificate fails.
        assert.equal(e.kind, "UNAVAILABLE", String(e));
        last = e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(last, undefined, `the replica named 127.0.0.1 was never reached: ${last}`);
  } finally {
    tessera.close();
    swapped.close();
    numbered.child.kill("SIGKILL");
  }
});
