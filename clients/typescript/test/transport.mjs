// The unary transport (src/transport.ts) against servers that misbehave on purpose: node:http2
// servers that answer what each test needs (late, malformed, refused, reset, going away), and
// replicas that refuse connections or never finish a TLS handshake.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { create, toBinary } from "@bufbuild/protobuf";
import { pb, TesseraClient, TesseraError } from "../dist/esm/index.js";
import { statusWithReason } from "../dist/esm/errors.js";
import { dev, makePki } from "./support.mjs";

const Code = { CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 };
const INTROSPECT = "/tessera.v1.AuthService/Introspect";
const JWKS = "/tessera.v1.AuthService/GetJwks";

/** A gRPC message frame: flag, length, bytes. */
function frame(message, compressed = 0) {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

const introspection = (init) => Buffer.from(toBinary(pb.IntrospectResponseSchema, create(pb.IntrospectResponseSchema, init)));
const jwks = (text) => Buffer.from(toBinary(pb.GetJwksResponseSchema, create(pb.GetJwksResponseSchema, { jwksJson: text })));

/** A gRPC answer: headers, the body, then trailers. */
function answer(stream, body, trailers = { "grpc-status": "0" }) {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end(body);
}

const servers = [];
/**
 * A plaintext HTTP/2 server whose handler answers each stream (with its headers and the number of
 * streams before it); it records every stream's headers and counts connections.
 */
async function fake(handler, port = 0) {
  const server = http2.createServer();
  const state = { server, streams: [], connections: 0, sessions: new Set() };
  server.on("session", (session) => {
    state.connections++;
    state.sessions.add(session);
    session.on("close", () => state.sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const n = state.streams.length;
    state.streams.push(headers);
    stream.on("error", () => {});
    handler(stream, headers, n);
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  state.port = server.address().port;
  /** Gone at once, as a killed process: the listener and every connection. */
  state.kill = async () => {
    for (const s of state.sessions) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  servers.push(state);
  return state;
}

/** A loopback port nothing listens on. */
async function refusedPort() {
  const probe = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => probe.once("listening", r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}

async function rejects(promise, check, what = "the call") {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof TesseraError, `${what}: want a TesseraError, got ${e?.stack ?? e}`);
    check(e);
    return e;
  }
  assert.fail(`${what} succeeded`);
}

describe("unary transport", () => {
  after(async () => {
    for (const s of servers) {
      for (const session of s.sessions) session.destroy();
      s.server.close();
    }
  });

  test("a server that takes the call and never answers meets the deadline, which it was told", async () => {
    let cancelled;
    const cancel = new Promise((resolve) => (cancelled = resolve));
    const silent = await fake((stream) => stream.on("close", () => cancelled(stream.rstCode)));
    const c = new TesseraClient(`127.0.0.1:${silent.port}`, { token: "tsr_svc_x", timeoutMs: 300 });
    try {
      const started = Date.now();
      const e = await rejects(c.introspect("tsr_api_x"), (e) => assert.ok(e.deadlineExceeded, e.message));
      const took = Date.now() - started;
      assert.ok(took >= 290 && took < 2000, `the deadline of 300 ms fired after ${took} ms`);
      assert.match(e.message, /deadline exceeded/);
      const timeout = silent.streams[0]["grpc-timeout"];
      assert.match(timeout, /^\d{1,8}m$/);
      assert.ok(Number(timeout.slice(0, -1)) <= 300 && Number(timeout.slice(0, -1)) > 200, timeout);
      assert.equal(silent.streams[0].authorization, "Bearer tsr_svc_x");
      assert.equal(silent.streams[0]["content-type"], "application/grpc");
      assert.equal(await cancel, http2.constants.NGHTTP2_CANCEL, "the stream is cancelled at the deadline");
    } finally {
      c.close();
    }
  });

  test("malformed and unusual answers fail with the code gRPC gives them", async () => {
    const cases = [
      [(s) => s.respond({ ":status": 503 }, { endStream: true }), Code.UNAVAILABLE, /HTTP 503/],
      [(s) => s.respond({ ":status": 200, "content-type": "text/html" }, { endStream: true }), Code.UNKNOWN, /text\/html, not gRPC/],
      [(s) => answer(s, frame(introspection({ active: true, subject: "someone" })).subarray(0, 8)), Code.INTERNAL, /malformed response/],
      [(s) => answer(s, Buffer.concat([frame(introspection({})), frame(introspection({}))])), Code.INTERNAL, /malformed response/],
      [(s) => answer(s, frame(introspection({ active: true }), 1)), Code.INTERNAL, /compressed/],
      [(s) => answer(s, frame(Buffer.from([0x12, 0x05, 0x61]))), Code.INTERNAL, /cannot decode the response: premature end/],
      [(s) => answer(s, Buffer.alloc(0)), Code.INTERNAL, /without a response message/],
      [
        (s) => {
          s.respond({ ":status": 200, "content-type": "application/grpc" });
          s.end(frame(introspection({})));
        },
        Code.INTERNAL,
        /without a gRPC status/,
      ],
      [(s) => s.close(http2.constants.NGHTTP2_CANCEL), Code.CANCELLED, /reset the stream/],
      [(s) => s.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM), Code.RESOURCE_EXHAUSTED, /reset the stream/],
      [(s) => answer(s, frame(Buffer.alloc(5 * 1024 * 1024))), Code.RESOURCE_EXHAUSTED, /larger than the limit/],
      [(s) => answer(s, frame(introspection({})), { "grpc-status": "99" }), Code.UNKNOWN, /tessera: unknown/],
    ];
    const server = await fake((stream, _headers, n) => cases[n][0](stream));
    const c = new TesseraClient(`http://127.0.0.1:${server.port}`, { token: "tsr_svc_x", timeoutMs: 5000 });
    try {
      for (const [, code, message] of cases) {
        await rejects(
          c.introspect("tsr_api_x"),
          (e) => {
            assert.equal(e.code, code, `${message}: ${e.message}`);
            assert.match(e.message, message);
          },
          `the case of ${message}`,
        );
      }
      assert.equal(server.connections, 1, "a bad answer does not cost the connection");
    } finally {
      c.close();
    }
  });

  test("a status in trailers only carries its reason, field and percent-encoded message", async () => {
    const refusal = statusWithReason("AUTH_FAILED", "token", "m");
    const details = refusal.metadata.get("grpc-status-details-bin")[0].toString("base64").replace(/=+$/, "");
    const server = await fake((stream) =>
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "16",
          "grpc-message": encodeURIComponent("the token ✓ is 100% wrong"),
          "grpc-status-details-bin": details,
        },
        { endStream: true },
      ),
    );
    const c = new TesseraClient(`127.0.0.1:${server.port}`, { token: "tsr_svc_x" });
    try {
      await rejects(c.introspect("tsr_api_x"), (e) => {
        assert.equal(e.code, Code.UNAUTHENTICATED);
        assert.equal(e.reason, "AUTH_FAILED");
        assert.equal(e.field, "token");
        assert.match(e.message, /the token ✓ is 100% wrong/);
      });
    } finally {
      c.close();
    }
  });

  test("a refused stream is re-sent, any call; UNAVAILABLE is retried only for calls safe to repeat", async () => {
    const refusing = await fake((stream, headers, n) => {
      if (n === 0) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else answer(stream, frame(introspection({ active: true })));
    });
    const c = new TesseraClient(`127.0.0.1:${refusing.port}`, { token: "tsr_svc_x" });
    try {
      assert.equal((await c.introspect("tsr_api_x")).active, true);
      assert.equal(refusing.streams.length, 2, "the refused Introspect was re-sent once");
    } finally {
      c.close();
    }
    const flaky = await fake((stream, headers, n) => {
      // GetJwks's first three attempts meet an UNAVAILABLE server; Introspect's only attempt too.
      if (headers[":path"] === JWKS && n < 3) answer(stream, Buffer.alloc(0), { "grpc-status": "14", "grpc-message": "busy" });
      else if (headers[":path"] === JWKS) answer(stream, frame(jwks('{"keys":[]}')));
      else answer(stream, Buffer.alloc(0), { "grpc-status": "14", "grpc-message": "busy" });
    });
    const d = new TesseraClient(`127.0.0.1:${flaky.port}`, { token: "tsr_svc_x" });
    try {
      assert.equal(await d.getJwks(), '{"keys":[]}');
      assert.equal(flaky.streams.filter((h) => h[":path"] === JWKS).length, 4, "GetJwks: three UNAVAILABLE attempts, then OK");
      await rejects(d.introspect("tsr_api_x"), (e) => assert.equal(e.kind, "UNAVAILABLE"));
      assert.equal(flaky.streams.filter((h) => h[":path"] === INTROSPECT).length, 1, "Introspect may consume a use: never retried");
    } finally {
      d.close();
    }
  });

  test("a connection that goes away gracefully (GOAWAY) is replaced by the next call", async () => {
    const server = await fake((stream) => {
      answer(stream, frame(introspection({ active: true })));
      // Answer, then close the connection: its GOAWAY says no stream after this one.
      stream.session.close();
    });
    const c = new TesseraClient(`127.0.0.1:${server.port}`, { token: "tsr_svc_x" });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await c.introspect("tsr_api_x")).active, true);
      assert.equal(server.connections, 3);
    } finally {
      c.close();
    }
  });

  test("replicas: in order of preference, staying on a working one, the next when it goes away", async () => {
    const who = (name) => (stream) => answer(stream, frame(introspection({ active: true, subject: name })));
    const first = await fake(who("first"));
    const second = await fake(who("second"));
    const refused = await refusedPort();
    const c = new TesseraClient([`127.0.0.1:${refused}`, `127.0.0.1:${first.port}`, `127.0.0.1:${second.port}`], {
      token: "tsr_svc_x",
      timeoutMs: 5000,
    });
    const subject = async () => {
      // The call in flight when a replica dies may fail; the next ones must not.
      for (let tries = 0; ; tries++) {
        try {
          return (await c.introspect("tsr_api_x")).identity.subject;
        } catch (e) {
          assert.equal(e.kind, "UNAVAILABLE", String(e));
          assert.ok(tries < 3, `still failing: ${e}`);
        }
      }
    };
    try {
      assert.deepEqual(await Promise.all(Array.from({ length: 16 }, subject)), Array(16).fill("first"));
      assert.equal(first.connections, 1, "sixteen calls in flight, one connection");
      await first.kill();
      assert.equal(await subject(), "second");
      // The first replica back on its port: calls stay where they work.
      const back = await fake(who("first again"), first.port);
      assert.equal(await subject(), "second");
      assert.equal(back.connections, 0);
      await second.kill();
      assert.equal(await subject(), "first again", "from the top of the list again");
    } finally {
      c.close();
    }
  });

  test("an IPv6 replica is dialed, and named with its brackets", async (t) => {
    const server = http2.createServer();
    server.on("stream", (stream, headers) => answer(stream, frame(introspection({ active: true, subject: headers[":authority"] }))));
    try {
      await new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "::1", resolve);
      });
    } catch (e) {
      t.skip(`no IPv6 loopback: ${e.message}`);
      return;
    }
    const c = new TesseraClient(`http://[::1]:${server.address().port}`, { token: "tsr_svc_x" });
    try {
      assert.equal((await c.introspect("tsr_api_x")).identity.subject, `[::1]:${server.address().port}`);
    } finally {
      c.close();
      server.close();
    }
  });

  test("every replica unreachable: UNAVAILABLE at once, and no dialing again before a backoff", async () => {
    let accepted = 0;
    // Accepts TCP and closes: a TLS handshake cannot finish.
    const closing = net.createServer((s) => {
      accepted++;
      s.destroy();
    });
    await new Promise((r) => closing.listen(0, "127.0.0.1", r));
    const pki = makePki();
    const c = new TesseraClient(`https://127.0.0.1:${closing.address().port}`, { tls: { caFile: pki.ca }, token: "tsr_svc_x" });
    try {
      await rejects(c.introspect("tsr_api_x"), (e) => assert.match(e.message, /no replica reachable \(127\.0\.0\.1:\d+: /));
      assert.equal(accepted, 1);
      const started = Date.now();
      await rejects(c.introspect("tsr_api_x"), (e) => assert.equal(e.kind, "UNAVAILABLE"));
      await rejects(c.getJwks(), (e) => assert.equal(e.kind, "UNAVAILABLE"));
      assert.ok(Date.now() - started < 700, "calls during the backoff fail at once");
      assert.equal(accepted, 1, "no connection attempt during the backoff");
      await new Promise((r) => setTimeout(r, 1300));
      await rejects(c.introspect("tsr_api_x"), (e) => assert.equal(e.kind, "UNAVAILABLE"));
      assert.equal(accepted, 2, "dialed again after the backoff");
    } finally {
      c.close();
      closing.close();
    }
  });

  test("a replica that never finishes its TLS handshake is overtaken by the next", async () => {
    const held = [];
    const silent = net.createServer((s) => held.push(s));
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    const pki = makePki();
    const secure = http2.createSecureServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) });
    secure.on("stream", (stream) => answer(stream, frame(introspection({ active: true }))));
    await new Promise((r) => secure.listen(0, "127.0.0.1", r));
    const c = new TesseraClient([`https://127.0.0.1:${silent.address().port}`, `https://localhost:${secure.address().port}`], {
      tls: { caFile: pki.ca },
      token: "tsr_svc_x",
      timeoutMs: 5000,
    });
    try {
      const started = Date.now();
      assert.equal((await c.introspect("tsr_api_x")).active, true);
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    } finally {
      c.close();
      held.forEach((s) => s.destroy());
      silent.close();
      secure.close();
    }
  });

  test("a client never closed does not keep the process alive", async () => {
    const server = await dev();
    const program = `
      const { TesseraClient } = await import(${JSON.stringify(new URL("../dist/esm/index.js", import.meta.url).href)});
      const c = new TesseraClient(${JSON.stringify(server.grpc_addr)}, { token: ${JSON.stringify(server.service_token)} });
      console.log((await c.introspect(${JSON.stringify(server.service_token)}, { peek: true })).active);
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", program], { encoding: "utf8", timeout: 20_000 });
    assert.equal(out.trim(), "true");
  });
});
