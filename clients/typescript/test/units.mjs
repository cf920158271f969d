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

test("the hand-written Introspect and CheckNamespace codecs agree with protoc-gen-es's", async () => {
  const { create, toBinary, fromBinary } = await import("@bufbuild/protobuf");
  const { timestampDate } = await import("@bufbuild/protobuf/wkt");
  const wire = await import("../dist/esm/wire.js");
  const { introspection } = await import("../dist/esm/client.js");
  const { AuthService } = await import("../dist/esm/gen/tessera/v1/auth_pb.js");
  const M = AuthService.method;
  const strings = ["", "t", "tsr_api_0123456789", "x".repeat(127), "y".repeat(128), "z".repeat(20_000), "é✓ 𝄞 名前", "\ud800 lone"];
  for (const token of strings) {
    for (const peek of [false, true]) {
      const expected = Buffer.from(toBinary(M.introspect.input, create(M.introspect.input, { token, peek })));
      assert.deepEqual(wire.encodeIntrospectRequest(token, peek), expected, `introspect ${token.slice(0, 20)} ${peek}`);
    }
    for (const identifiers of [[], [""], strings, Array.from({ length: 300 }, (_, i) => `deploy.job${i}`)]) {
      for (const action of ["", "read", token]) {
        const expected = Buffer.from(toBinary(M.checkNamespace.input, create(M.checkNamespace.input, { token, identifiers, action })));
        assert.deepEqual(wire.encodeCheckNamespaceRequest(token, identifiers, action), expected);
      }
    }
  }
  assert.equal(wire.plainIntrospect("t", false), true);
  assert.equal(wire.plainIntrospect(undefined, false), false);
  assert.equal(wire.plainCheckNamespace("t", ["a", 1], ""), false);

  // Unknown fields of every wire type (a newer server's) are skipped.
  const unknown = Buffer.from([
    0xa0, 0x06, 0x96, 0x01, 0xaa, 0x06, 0x02, 0x68, 0x69, 0xb5, 0x06, 1, 2, 3, 4, 0xb9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8,
  ]);
  const introspections = [
    {},
    {
      active: true,
      subject: "u-1",
      username: "ålice",
      tokenId: "tid",
      tokenType: 3,
      roles: ["user", "admin"],
      permissions: ["*"],
      namespace: "deploy.",
    },
    { active: true, tokenType: 6, elevated: true, sessionId: "s", usesRemaining: 0, issuedAt: { seconds: 0n, nanos: 0 } },
    {
      tokenType: 42,
      usesRemaining: 4294967295,
      issuedAt: { seconds: 1_765_000_000n, nanos: 999_999_999 },
      expiresAt: { seconds: -62_135_596_800n, nanos: 500_000 },
    },
    { expiresAt: { seconds: 253_402_300_799n, nanos: 1 }, permissions: ["", "introspect"] },
  ];
  for (const init of introspections) {
    const bytes = Buffer.from(toBinary(M.introspect.output, create(M.introspect.output, init)));
    for (const b of [bytes, Buffer.concat([unknown, bytes, unknown])]) {
      assert.deepEqual(
        wire.decodeIntrospection(b),
        introspection(fromBinary(M.introspect.output, b)),
        JSON.stringify(init, (_, v) => (typeof v === "bigint" ? String(v) : v)),
      );
    }
  }
  const decisions = [
    {},
    { active: true, allowed: true, namespace: "*", tokenId: "t", results: [{ identifier: "a", allowed: true }] },
    {
      active: true,
      namespace: "deploy.",
      results: ["deploy.a", "backup.b", "", "deploy.a", "名前"].map((identifier, i) => ({ identifier, allowed: i % 2 === 0 })),
    },
  ];
  for (const init of decisions) {
    const bytes = Buffer.from(toBinary(M.checkNamespace.output, create(M.checkNamespace.output, init)));
    for (const b of [bytes, Buffer.concat([unknown, bytes, unknown])]) {
      const r = fromBinary(M.checkNamespace.output, b);
      const expected = {
        active: r.active,
        allowed: r.allowed,
        namespace: r.namespace,
        tokenId: r.tokenId,
        results: new Map(r.results.map((d) => [d.identifier, d.allowed])),
      };
      const got = wire.decodeNamespaceDecision(b);
      assert.deepEqual(got, expected);
      assert.deepEqual([...got.results.keys()], [...expected.results.keys()]);
    }
  }
  // A message field given twice merges; a truncated message fails.
  const twice = Buffer.concat([
    Buffer.from(toBinary(M.introspect.output, create(M.introspect.output, { issuedAt: { seconds: 5n, nanos: 7_000_000 } }))),
    Buffer.from(toBinary(M.introspect.output, create(M.introspect.output, { issuedAt: { seconds: 0n, nanos: 9_000_000 } }))),
  ]);
  assert.deepEqual(wire.decodeIntrospection(twice).issuedAt, timestampDate(fromBinary(M.introspect.output, twice).issuedAt));
  assert.throws(() => wire.decodeIntrospection(Buffer.from([0x12, 0x05, 0x61])), /premature end/);
  // The codecs know these fields; a field added to the protos must be added to src/wire.ts too
  // (and these lists), or its value would be dropped on the hot path.
  const numbers = (desc) => desc.fields.map((f) => f.number);
  assert.deepEqual(numbers(M.introspect.input), [1, 2], "IntrospectRequest changed: update src/wire.ts");
  assert.deepEqual(
    numbers(M.introspect.output),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
    "IntrospectResponse changed: update src/wire.ts",
  );
  assert.deepEqual(numbers(M.checkNamespace.input), [1, 2, 3], "CheckNamespaceRequest changed: update src/wire.ts");
  assert.deepEqual(numbers(M.checkNamespace.output), [1, 2, 3, 4, 5], "CheckNamespaceResponse changed: update src/wire.ts");
});
