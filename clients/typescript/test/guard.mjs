import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import * as grpc from "@grpc/grpc-js";
import { fromGrpcError, identityFromMetadata, identityOf, tesseraMiddleware, tesseraServerInterceptor } from "../dist/esm/index.js";
import { client, dev, fails } from "./support.mjs";

// jobs.Jobs/Run: a job name in (UTF-8), "ran <job> for <username> <token id>" out.
const utf8 = { serialize: (s) => Buffer.from(s), deserialize: (b) => b.toString() };
const jobs = {
  run: {
    path: "/jobs.Jobs/Run",
    requestStream: false,
    responseStream: false,
    requestSerialize: utf8.serialize,
    requestDeserialize: utf8.deserialize,
    responseSerialize: utf8.serialize,
    responseDeserialize: utf8.deserialize,
  },
};

async function grpcServer(interceptor) {
  const server = new grpc.Server({ interceptors: [interceptor] });
  server.addService(jobs, {
    run(call, callback) {
      const who = identityFromMetadata(call.metadata);
      callback(null, `ran ${call.request} for ${who.username} ${who.tokenId}`);
    },
  });
  const port = await new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const Jobs = grpc.makeGenericClientConstructor(jobs, "Jobs");
  const stub = new Jobs(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const run = (token, job) =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      if (token) md.set("authorization", `Bearer ${token}`);
      // A forged identity must never reach the handler.
      md.set("x-tessera-identity", JSON.stringify({ username: "forged", tokenId: "forged" }));
      stub.run(job, md, { deadline: Date.now() + 20_000 }, (e, r) => (e ? reject(fromGrpcError(e)) : resolve(r)));
    });
  return {
    run,
    close: () => {
      stub.close();
      server.forceShutdown();
    },
  };
}

describe("guards", () => {
  let server, admin, guardClient;
  before(async () => {
    server = await dev();
    admin = client(server, server.admin_token);
    guardClient = admin.withToken(server.service_token);
  });
  after(() => admin.close());
  const deployToken = () => admin.issueToken({ ttlSeconds: 1800, namespace: "deploy.", permissions: ["issue"] });

  test("the grpc-js server interceptor protects a service", async () => {
    const jobsServer = await grpcServer(tesseraServerInterceptor(guardClient, { access: (_path, job) => ({ identifiers: [job] }) }));
    try {
      const token = await deployToken();
      assert.equal(
        await jobsServer.run(token.token.expose(), "deploy.daily"),
        `ran deploy.daily for ${server.admin_username} ${token.tokenId}`,
      );
      await fails("AUTH_DENIED", jobsServer.run(token.token.expose(), "backup.daily"));
      await fails("AUTH_REQUIRED", jobsServer.run(undefined, "deploy.daily"));
      await fails("AUTH_FAILED", jobsServer.run("tsr_api_unknown", "deploy.daily"));
      // Introspect alone (no access rule) must refuse a revoked token too.
      const plain = await grpcServer(tesseraServerInterceptor(guardClient));
      try {
        assert.match(await plain.run(token.token.expose(), "backup.daily"), /^ran backup.daily/);
        await admin.revoke({ tokenId: token.tokenId }, "guard test");
        await fails("AUTH_FAILED", jobsServer.run(token.token.expose(), "deploy.daily"));
        await fails("AUTH_FAILED", plain.run(token.token.expose(), "backup.daily"));
      } finally {
        plain.close();
      }
    } finally {
      jobsServer.close();
    }
    // Fail closed: a guard whose own token Tessera refuses answers UNAVAILABLE, never admits.
    const closed = await grpcServer(tesseraServerInterceptor(admin.withToken("tsr_svc_revoked")));
    try {
      const good = await deployToken();
      await fails("UNAVAILABLE", closed.run(good.token.expose(), "deploy.daily"));
    } finally {
      closed.close();
    }
  });

  test("the Express/Connect middleware protects an HTTP application", async () => {
    const guard = tesseraMiddleware(guardClient, { access: (req) => ({ identifiers: [req.url.replace(/^\/jobs\//, "")] }) });
    const app = http.createServer((req, res) =>
      guard(req, res, (err) => {
        if (err) {
          res.writeHead(500).end();
          return;
        }
        res.end(`job ${req.url.slice(6)} for ${identityOf(req).username}`);
      }),
    );
    await new Promise((r) => app.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${app.address().port}`;
    const get = async (path, authorization) => {
      const res = await fetch(base + path, { headers: authorization ? { authorization } : {} });
      return { status: res.status, body: await res.text(), headers: res.headers };
    };
    try {
      const token = await deployToken();
      const ok = await get("/jobs/deploy.daily", `Bearer ${token.token.expose()}`);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.body, `job deploy.daily for ${server.admin_username}`);
      const outside = await get("/jobs/backup.daily", `Bearer ${token.token.expose()}`);
      assert.equal(outside.status, 403);
      assert.equal(JSON.parse(outside.body).tessera_reason, "auth_denied");
      const none = await get("/jobs/deploy.daily");
      assert.equal(none.status, 401);
      assert.match(none.headers.get("www-authenticate"), /invalid_token/);
      assert.equal((await get("/jobs/deploy.daily", "Bearer a b")).status, 400);
      await admin.revoke({ tokenId: token.tokenId }, "middleware test");
      const revoked = await get("/jobs/deploy.daily", `Bearer ${token.token.expose()}`);
      assert.equal(revoked.status, 401, "a revoked token must not pass the middleware");
      assert.equal(JSON.parse(revoked.body).tessera_reason, "auth_failed");
      assert.equal(revoked.headers.get("cache-control"), "no-store");
    } finally {
      app.close();
    }
  });
});
