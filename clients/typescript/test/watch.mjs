import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { client, dev } from "./support.mjs";

/** Everything a watch reports, in order, awaitable one at a time. */
function events() {
  const queue = [];
  const waiters = [];
  const push = (e) => (waiters.length ? waiters.shift()(e) : queue.push(e));
  return {
    handlers: {
      onRevocation: (r) => push(r),
      onResync: () => push("resync"),
      onError: (e) => push(e),
    },
    next(ms = 30_000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing from the watch within ${ms} ms`)), ms);
        waiters.push((e) => {
          clearTimeout(timer);
          resolve(e);
        });
      });
    },
  };
}

describe("revocation watch", () => {
  let server, admin, service;
  before(async () => {
    server = await dev();
    admin = client(server, server.admin_token);
    service = admin.withToken(server.service_token);
  });
  after(() => admin.close());

  test("delivers from the head, acknowledges, resumes after an anchor and resyncs", async () => {
    const head = events();
    const fromHead = service.watchRevocations({ fromHead: true }, head.handlers);
    try {
      const checkpoint = await head.next();
      assert.equal(checkpoint.checkpoint, true, "a watch from the head starts with a checkpoint");

      const token = await admin.issueToken({ ttlSeconds: 600 });
      await admin.revoke({ tokenId: token.tokenId }, "watch test");
      const rev = await head.next();
      assert.equal(rev.tokenId, token.tokenId);
      assert.equal(rev.tokenHash.length, 64);
      assert.ok(rev.sequence > checkpoint.sequence);
      assert.equal(fromHead.lastSequence, rev.sequence);

      const ack = await service.acknowledgeRevocations({
        followerId: randomUUID(),
        appliedSequence: rev.sequence,
        appliedAnchor: rev.anchor,
        name: "ts watch test",
      });
      assert.equal(ack.current, true);
      assert.ok(ack.leaseMs > 0);
      assert.ok(ack.headSequence >= rev.sequence);

      const second = await admin.issueToken({ ttlSeconds: 600 });
      await admin.revoke({ tokenId: second.tokenId }, "watch test");
      const resumed = events();
      const after = service.watchRevocations({ afterSequence: rev.sequence, afterAnchor: rev.anchor }, resumed.handlers);
      const next = await resumed.next();
      await after.close();
      assert.equal(next.tokenId, second.tokenId, "resuming after a position delivers what follows it, nothing before");

      // Another revocation's anchor at that sequence (as after a restore): resync, then replay from 0.
      const resync = events();
      const wrong = service.watchRevocations(
        { afterSequence: rev.sequence, afterAnchor: next.anchor, minBackoffMs: 20, maxBackoffMs: 100 },
        resync.handlers,
      );
      assert.equal(await resync.next(), "resync");
      const replayed = await resync.next();
      await wrong.close();
      assert.ok(replayed.sequence <= rev.sequence, "after a resync the watch replays the retained feed");
    } finally {
      await fromHead.close();
    }

    // A permanent failure ends the watch: a token without introspect.
    const noIntrospect = await admin.issueToken({ ttlSeconds: 600, permissions: ["issue"] });
    const denied = events();
    const w = admin.withToken(noIntrospect.token.expose()).watchRevocations({}, denied.handlers);
    const error = await denied.next();
    await w.done;
    assert.equal(error.reason, "AUTH_DENIED");
  });
});
