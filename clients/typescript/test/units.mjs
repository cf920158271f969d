import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { bearer, formatTtl, parseAddress, REASON_CODES, TesseraClient, TesseraError } from "../dist/esm/index.js";

test("address forms: the three forms with the Rust client's meaning, malformed ones refused at construction", () => {
  assert.deepEqual(parseAddress("127.0.0.1:50051"), { host: "127.0.0.1", port: 50051, tls: undefined });
  assert.equal(parseAddress("http://localhost:50051/").tls, false);
  assert.equal(parseAddress("https://auth.example.com:443").tls, true);
  assert.equal(parseAddress("[::1]:50051").host, "::1");
  for (const bad of [
    "",
    "h",
    "http://h",
    "http://h:1/path",
    "grpc://h:1",
    "http://user@h:1",
    "h:0",
    "h:65536",
    "h:x",
    ":50051",
    "::1:50051",
    "h:1?x",
  ]) {
    assert.throws(
      () => new TesseraClient(bad),
      (e) =>
        e instanceof TesseraError && e.reason === "INVALID_ARGUMENT" && e.field === "addr" && e.message.includes("http://127.0.0.1:50051"),
      bad,
    );
  }
  assert.throws(() => new TesseraClient([]), /no address/);
  assert.throws(() => new TesseraClient(["https://h:1", "http://h:2"]), /mixed/);
  assert.throws(() => new TesseraClient("http://h:1", { tls: true }), /plaintext/);
  assert.throws(() => new TesseraClient("h:1", { tls: { certFile: "c.pem" } }), /together/);
  assert.throws(() => new TesseraClient("h:1", { timeoutMs: 0 }), /positive/);
});

test("ttl grammar", () => {
  assert.equal(formatTtl(90 * 60 + 15), "1h30m15s");
  assert.equal(formatTtl(8 * 86400), "1w1d");
  assert.equal(formatTtl(undefined), "");
  assert.throws(
    () => formatTtl(0.5),
    (e) => e.field === "ttl",
  );
});

test("bearer parsing follows the HTTP edge", () => {
  assert.equal(bearer(["Bearer tok"]), "tok");
  assert.equal(bearer(["bearer tok"]), "tok");
  assert.equal(bearer(["Basic abc"]).verdict, "noToken");
  for (const bad of ["Bearer ", "Bearer\ttok", "Bearer a b", 'Bearer a"b', "Bearer " + "x".repeat(5000)]) {
    assert.equal(bearer([bad]).verdict, "malformed", bad);
  }
  assert.equal(bearer(["Bearer a", "Bearer b"]).verdict, "malformed");
});

test("the reason table has every reason with its code", () => {
  assert.equal(Object.keys(REASON_CODES).length, 17);
});

test("CommonJS consumers get the same package", () => {
  const require = createRequire(import.meta.url);
  const cjs = require("tessera-auth-client");
  assert.equal(typeof cjs.TesseraClient, "function");
  assert.equal(typeof cjs.tesseraMiddleware, "function");
  assert.throws(
    () => new cjs.TesseraClient("nope"),
    (e) => e.reason === "INVALID_ARGUMENT",
  );
});

test("every reason survives the wire with its code and field", async () => {
  const { statusWithReason } = await import("../dist/esm/errors.js");
  const { fromGrpcError } = await import("../dist/esm/index.js");
  for (const [reason, code] of Object.entries(REASON_CODES)) {
    const answer = statusWithReason(reason, "token", "m");
    const e = fromGrpcError({ code: answer.code, details: answer.details, metadata: answer.metadata });
    assert.equal(e.reason, reason);
    assert.equal(e.code, code);
    assert.equal(e.field, "token");
  }
  const plain = fromGrpcError({ code: 7, details: "proxy", metadata: undefined });
  assert.equal(plain.reason, undefined);
  assert.equal(plain.kind, "AUTH_DENIED");
});
