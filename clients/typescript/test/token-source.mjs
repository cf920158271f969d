import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TesseraClient, TesseraError } from "../dist/esm/index.js";
import { ALICE_PASSWORD, client, dev, scratchDir } from "./support.mjs";

// A token source as a service uses one: the token lives in a file a secret store rewrites.
test("a token source is asked per call: a rotated token is used at once, a failing one is a clear error", async () => {
  const server = await dev();
  const admin = client(server, server.admin_token);
  const file = join(scratchDir(), "rotated-token");
  const rotating = new TesseraClient(`http://${server.grpc_addr}`, {
    tokenSource: async () => (await readFile(file, "utf8")).trim(),
    timeoutMs: 5000,
  });
  // Who a call ran as: the account of the token it derives.
  const caller = async () => {
    const issued = await rotating.issueToken({ ttlSeconds: 60 });
    return (await admin.introspect(issued.token.expose(), { peek: true })).identity.username;
  };
  const broken = new TesseraClient(`http://${server.grpc_addr}`, {
    tokenSource: () => {
      throw new Error("secret store sealed");
    },
  });
  const stuck = new TesseraClient(`http://${server.grpc_addr}`, { tokenSource: () => new Promise(() => {}), timeoutMs: 300 });
  try {
    await writeFile(file, (await admin.login("alice", ALICE_PASSWORD)).token.expose());
    assert.equal(await caller(), "alice");
    await writeFile(file, (await admin.login(server.admin_username, server.admin_password)).token.expose());
    assert.equal(await caller(), server.admin_username, "the rotated token was not used");
    assert.ok((await rotating.admin().listUsers()).length > 0, "admin calls use the source too");

    await assert.rejects(broken.issueToken(), (e) => {
      assert.ok(e instanceof TesseraError, String(e));
      assert.equal(e.kind, "INTERNAL");
      assert.match(e.message, /token source failed: secret store sealed/);
      return true;
    });
    const started = Date.now();
    await assert.rejects(
      stuck.getJwks(),
      (e) => e instanceof TesseraError && e.code === 4 && /token source did not answer/.test(e.message),
    );
    assert.ok(Date.now() - started < 3000, "a source that never answers held the call past its deadline");

    // A watch asks the source at each connection; its failures are retried, and reported.
    const retried = await new Promise((resolve) => {
      const watch = broken.watchRevocations(
        { fromHead: true, minBackoffMs: 10 },
        { onRevocation: () => {}, onRetry: (e) => resolve(watch.close().then(() => e)) },
      );
    });
    assert.match((await retried).message, /secret store sealed/);

    assert.throws(
      () => new TesseraClient("h:1", { token: "t", tokenSource: () => "t" }),
      (e) => e instanceof TesseraError && e.field === "tokenSource",
    );
  } finally {
    admin.close();
    rotating.close();
    broken.close();
    stuck.close();
  }
});
