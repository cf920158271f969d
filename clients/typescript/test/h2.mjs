// The client's own HTTP/2 (src/h2.ts) and HPACK (src/hpack.ts): the RFC's examples, nghttp2's
// encoder (node:http2's) decoded over a hundred header blocks, and servers that use what a gRPC
// answer rarely does (CONTINUATION, padding, small windows, one stream at a time, GOAWAY mid-call,
// pings) or break the protocol.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { pb, TesseraClient, TesseraError } from "../dist/esm/index.js";
import { encodeField, HpackDecoder, HpackError, huffmanDecode } from "../dist/esm/hpack.js";

const hex = (s) => Buffer.from(s.replace(/\s+/g, ""), "hex");

function frame(message) {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}
const introspection = (init) => Buffer.from(toBinary(pb.IntrospectResponseSchema, create(pb.IntrospectResponseSchema, init)));

function answer(stream, body, trailers = { "grpc-status": "0" }) {
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end(body);
}

const closers = [];
async function serve(options, onStream) {
  const server = http2.createServer(options);
  const sessions = new Set();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    onStream(stream, headers);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return { server, port: server.address().port, sessions };
}

/** A TCP server speaking raw HTTP/2 frames: it answers the client's preface with script(socket, streamId). */
async function rawServer(script) {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    let seen = Buffer.alloc(0);
    let answered = false;
    socket.on("data", (chunk) => {
      seen = Buffer.concat([seen, chunk]);
      // The first HEADERS frame after the preface (24 bytes): answer it.
      for (let at = 24; !answered && seen.length - at >= 9;) {
        const length = seen.readUIntBE(at, 3);
        if (seen[at + 3] === 1) {
          answered = true;
          script(socket, seen.readUInt32BE(at + 5) & 0x7fffffff);
        }
        at += 9 + length;
      }
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => server.close());
  return server.address().port;
}

/** One HTTP/2 frame. */
function h2frame(type, flags, id, payload) {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(id, 5);
  payload.copy(out, 9);
  return out;
}
const block = (fields) => Buffer.concat(Object.entries(fields).map(([k, v]) => encodeField(k, v)));
const SERVER_SETTINGS = h2frame(4, 0, 0, Buffer.alloc(0));

describe("HPACK", () => {
  test("the Huffman code: RFC 7541's examples, and what is not a string", () => {
    const cases = {
      "www.example.com": "f1e3c2e5f23a6ba0ab90f4ff",
      "no-cache": "a8eb10649cbf",
      "custom-key": "25a849e95ba97d7f",
      "custom-value": "25a849e95bb8e8b4bf",
      302: "6402",
      private: "aec3771a4b",
      "Mon, 21 Oct 2013 20:13:21 GMT": "d07abe941054d444a8200595040b8166e082a62d1bff",
      "https://www.example.com": "9d29ad171863c78f0b97c8e9ae82ae43d3",
    };
    for (const [text, code] of Object.entries(cases)) {
      const bytes = hex(code);
      assert.equal(huffmanDecode(bytes, 0, bytes.length), text);
    }
    // Padding of eight bits ("302", then ff), padding that is not all ones ("a", then 000), EOS.
    assert.throws(() => huffmanDecode(hex("6402ff"), 0, 3), HpackError);
    assert.throws(() => huffmanDecode(hex("18"), 0, 1), HpackError);
    assert.throws(() => huffmanDecode(hex("ffffffff"), 0, 4), HpackError);
  });

  test("RFC 7541 C.3 and C.4: requests through one dynamic table, plain and Huffman", () => {
    for (const blocks of [
      [
        "828684410f7777772e6578616d706c652e636f6d",
        "828684be58086e6f2d6361636865",
        "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
      ],
      ["828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf", "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"],
    ]) {
      const decoder = new HpackDecoder();
      const decoded = blocks.map((b) => ({ ...decoder.decode(hex(b)) }));
      const base = { ":method": "GET", ":scheme": "http", ":path": "/", ":authority": "www.example.com" };
      assert.deepEqual(decoded[0], base);
      assert.deepEqual(decoded[1], { ...base, "cache-control": "no-cache" });
      assert.deepEqual(decoded[2], {
        ":method": "GET",
        ":scheme": "https",
        ":path": "/index.html",
        ":authority": "www.example.com",
        "custom-key": "custom-value",
      });
    }
  });

  test("malformed blocks are refused", () => {
    for (const bad of ["80", "ff00", "bf", "3fe21f", "0f", "0085f1e3", "8220"]) {
      assert.throws(() => new HpackDecoder().decode(hex(bad)), HpackError, bad);
    }
  });

  test("the client's encoding decodes, and nghttp2's header blocks decode to what node:http2 sent", async () => {
    const fields = { ":path": "/x", authorization: "Bearer t", "x-custom": "välue ✓".replace(/[^\x20-\x7e]/g, "?") };
    assert.deepEqual({ ...new HpackDecoder().decode(block(fields)) }, fields);

    // node:http2's client encodes with nghttp2 (dynamic table, Huffman when shorter); a TCP server
    // captures its bytes, and the blocks are decoded in order through one table.
    let captured = Buffer.alloc(0);
    let done;
    const all = new Promise((r) => (done = r));
    const capture = net.createServer((socket) => {
      socket.write(SERVER_SETTINGS);
      socket.on("data", (chunk) => {
        captured = Buffer.concat([captured, chunk]);
        done();
      });
    });
    await new Promise((r) => capture.listen(0, "127.0.0.1", r));
    const client = http2.connect(`http://127.0.0.1:${capture.address().port}`);
    client.on("error", () => {});
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
    const sent = [];
    for (let i = 0; i < 100; i++) {
      const headers = { ":path": `/p/${i % 7}` };
      for (let j = 0; j < 1 + (i % 4); j++) {
        const length = [1, 10, 60, 300][(i + j) % 4];
        const value = Array.from(randomBytes(length), (b) => printable[b % printable.length])
          .join("")
          .trim();
        headers[`x-h${(i * 3 + j) % 11}`] = value || "v";
      }
      if (i % 5 === 0) headers["x-same"] = "the same value every fifth request";
      sent.push(headers);
      client.request(headers).on("error", () => {});
    }
    await all;
    // Wait until every request's HEADERS arrived.
    const blocks = [];
    for (let waited = 0; waited < 5000; waited += 20) {
      blocks.length = 0;
      let pending;
      for (let at = 24; captured.length - at >= 9;) {
        const length = captured.readUIntBE(at, 3);
        if (captured.length - at - 9 < length) break;
        const type = captured[at + 3];
        const payload = captured.subarray(at + 9, at + 9 + length);
        if (type === 1 || type === 9) {
          pending = pending ? Buffer.concat([pending, payload]) : payload;
          if (captured[at + 4] & 4) {
            blocks.push(pending);
            pending = undefined;
          }
        }
        at += 9 + length;
      }
      if (blocks.length === sent.length) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    client.destroy();
    capture.close();
    assert.equal(blocks.length, sent.length, "not every request was captured");
    const decoder = new HpackDecoder();
    blocks.forEach((b, i) => {
      const got = { ...decoder.decode(b) };
      for (const [name, value] of Object.entries(sent[i])) assert.equal(got[name], value, `request ${i}, ${name}`);
    });
  });
});

describe("HTTP/2", () => {
  after(() => closers.forEach((close) => close()));

  const client = (port, options = {}) => new TesseraClient(`127.0.0.1:${port}`, { token: "tsr_svc_x", timeoutMs: 10_000, ...options });

  test("one stream at a time: calls over the server's limit wait their turn", async () => {
    let open = 0;
    let most = 0;
    const { port } = await serve({ settings: { maxConcurrentStreams: 1 } }, (stream) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        answer(stream, frame(introspection({ active: true })));
      }, 5);
    });
    const c = client(port);
    try {
      // The first call goes before the server's SETTINGS arrive; the rest queue behind the limit.
      await c.introspect("t");
      const answers = await Promise.all(Array.from({ length: 8 }, () => c.introspect("t")));
      assert.ok(answers.every((a) => a.active));
      assert.equal(most, 1);
    } finally {
      c.close();
    }
  });

  test("flow control: a request larger than the server's windows, answers larger than the client's", async () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `deploy.a-rather-long-identifier-${i}`);
    let received = 0;
    const { port } = await serve({ settings: { initialWindowSize: 100 } }, (stream, headers) => {
      const parts = [];
      stream.on("data", (d) => parts.push(d));
      stream.on("end", () => {
        received = Buffer.concat(parts).length;
        if (headers[":path"].endsWith("/CheckNamespace")) {
          const m = Buffer.from(toBinary(pb.CheckNamespaceResponseSchema, create(pb.CheckNamespaceResponseSchema, { active: true })));
          answer(stream, frame(m));
        } else {
          // Nearly the 4 MiB limit, so that ten answers pass the connection window's refill point.
          const jwks = "k".repeat(4 * 1024 * 1024 - 64);
          answer(stream, frame(Buffer.from(toBinary(pb.GetJwksResponseSchema, create(pb.GetJwksResponseSchema, { jwksJson: jwks })))));
        }
      });
    });
    const c = client(port);
    try {
      assert.equal((await c.checkNamespace("t", ids)).active, true);
      assert.ok(received > 100_000, `the server got ${received} bytes`);
      for (let i = 0; i < 10; i++) assert.equal((await c.getJwks()).length, 4 * 1024 * 1024 - 64);
    } finally {
      c.close();
    }
  });

  test("a header block over one frame leaves in CONTINUATION frames", async () => {
    const token = `tsr_svc_${"x".repeat(40_000)}`;
    let seen;
    const { port } = await serve({ settings: { maxHeaderListSize: 128 * 1024 } }, (stream, headers) => {
      seen = headers.authorization;
      answer(stream, frame(introspection({ active: true })));
    });
    const c = client(port, { token });
    try {
      assert.equal((await c.introspect("t")).active, true);
      assert.equal(seen, `Bearer ${token}`);
    } finally {
      c.close();
    }
  });

  test("trailers in CONTINUATION frames, and the server's pings answered", async () => {
    const long = "m".repeat(40_000);
    let pinged;
    const { port } = await serve({}, (stream) => {
      pinged = new Promise((resolve, reject) => stream.session.ping((e, ms) => (e ? reject(e) : resolve(ms))));
      answer(stream, Buffer.alloc(0), { "grpc-status": "5", "grpc-message": long });
    });
    const c = client(port);
    try {
      await assert.rejects(c.introspect("t"), (e) => e.code === 5 && e.message.endsWith(long));
      assert.ok((await pinged) >= 0);
    } finally {
      c.close();
    }
  });

  test("a GOAWAY below a call in flight: that call goes again on a new connection", async () => {
    let streams = 0;
    let connections = 0;
    const { server, port } = await serve({}, (stream) => {
      streams++;
      if (streams === 2) {
        // The second call in flight on the first connection: the server says it processes none
        // after the first, and leaves this one unanswered.
        stream.session.goaway(0, 1);
        return;
      }
      answer(stream, frame(introspection({ active: true, subject: `stream ${streams}` })));
    });
    server.on("session", () => connections++);
    const c = client(port);
    try {
      const [first, second] = await Promise.all([c.introspect("t"), c.introspect("t")]);
      assert.ok(first.active && second.active);
      assert.equal(connections, 2);
    } finally {
      c.close();
    }
  });

  test("padding, priority and frames of unknown types are read past", async () => {
    const port = await rawServer((socket, id) => {
      const head = block({ ":status": "200", "content-type": "application/grpc" });
      const padded = (payload, pad) => Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(pad)]);
      const message = frame(introspection({ active: true, subject: "padded" }));
      socket.write(
        Buffer.concat([
          SERVER_SETTINGS,
          h2frame(0xbb, 0, 0, Buffer.from("unknown")),
          // HEADERS, PADDED and PRIORITY: pad length, 5 bytes of priority, the block, the padding.
          h2frame(1, 0x4 | 0x8 | 0x20, id, Buffer.concat([Buffer.from([3]), Buffer.alloc(5), head, Buffer.alloc(3)])),
          h2frame(2, 0, id, Buffer.alloc(5)),
          h2frame(0, 0x8, id, padded(message.subarray(0, 4), 10)),
          h2frame(0, 0x8, id, padded(message.subarray(4), 0)),
          h2frame(1, 0x1 | 0x4, id, block({ "grpc-status": "0" })),
        ]),
      );
    });
    const c = client(port);
    try {
      assert.equal((await c.introspect("t")).identity.subject, "padded");
    } finally {
      c.close();
    }
  });

  test("a server that breaks the protocol loses the connection, and the call is UNAVAILABLE", async () => {
    const breaks = [
      (socket, id) => socket.write(Buffer.concat([SERVER_SETTINGS, h2frame(5, 0x4, id, Buffer.alloc(8))])),
      (socket) => socket.write(Buffer.concat([SERVER_SETTINGS, h2frame(0, 0, 1, Buffer.alloc(20_000))])),
      (socket, id) => socket.write(Buffer.concat([SERVER_SETTINGS, h2frame(1, 0x4, id, hex("bf"))])),
      (socket, id) =>
        socket.write(Buffer.concat([SERVER_SETTINGS, h2frame(1, 0, id, block({ ":status": "200" })), h2frame(6, 0, 0, Buffer.alloc(8))])),
    ];
    for (const [i, script] of breaks.entries()) {
      const c = client(await rawServer(script));
      try {
        await assert.rejects(c.introspect("t"), (e) => {
          assert.ok(e instanceof TesseraError, String(e));
          assert.equal(e.kind, "UNAVAILABLE", `case ${i}: ${e.message}`);
          assert.match(e.message, /protocol error/, `case ${i}`);
          return true;
        });
      } finally {
        c.close();
      }
    }
  });
});
