// The real Tessera server the tests run against: $TESSERA_BIN dev (an embedded PostgreSQL,
// migrations, a bootstrapped admin and service token) on a free loopback port, started once for
// the whole run (every suite is imported by main.test.mjs into one process) and stopped at its end.
import { spawn, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { TesseraClient, TesseraError } from "../dist/esm/index.js";

export const ALICE_PASSWORD = "alice-password-1";
const READY_MS = 180_000;

let scratch;
export function scratchDir() {
  if (!scratch) {
    scratch = mkdtempSync(join(tmpdir(), "tessera-ts-test-"));
    // PostgreSQL runs as an unprivileged account when the tests run as root: it must reach in.
    chmodSync(scratch, 0o755);
  }
  return scratch;
}

export function bin() {
  const b = process.env.TESSERA_BIN;
  if (!b) throw new Error("TESSERA_BIN is not set (clients/typescript/run-tests.sh sets it)");
  return b;
}

/** This environment without a developer's own TESSERA_* settings, plus extra. */
function env(extra) {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("TESSERA_") || k === "TESSERA_PG_BIN") out[k] = v;
  }
  return { ...out, ...extra };
}

const children = new Set();
export function stopAll() {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  const exited = running.map((c) => new Promise((r) => c.once("exit", r)));
  for (const child of running) child.kill(child.signalOnStop ?? "SIGTERM");
  return Promise.all(exited);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tail(path) {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-40).join("\n");
  } catch (e) {
    return `(no log: ${e})`;
  }
}

let shared;
/** The shared server (a promise, started on first use). */
export function dev() {
  shared ??= start("shared", {
    TESSERA_BOOTSTRAP_ACCOUNTS_JSON: JSON.stringify([{ username: "alice", password: ALICE_PASSWORD, role: "user", display_name: "Alice" }]),
    TESSERA_SESSION_TTL: "30d",
  });
  return shared;
}

async function start(name, extra) {
  const dir = join(scratchDir(), name);
  mkdirSync(dir);
  const log = join(dir, "server.log");
  const readyFile = join(dir, "ready.json");
  const child = spawn(bin(), ["dev", "--data-dir", join(dir, "data"), "--listen", "127.0.0.1:0", "--ready-file", readyFile], {
    env: env(extra),
    stdio: ["ignore", openSync(log, "w"), openSync(log, "a")],
  });
  children.add(child);
  const deadline = Date.now() + READY_MS;
  while (!existsSync(readyFile)) {
    if (child.exitCode !== null) throw new Error(`tessera dev exited before it was ready:\n${tail(log)}`);
    if (Date.now() > deadline) throw new Error(`tessera dev not ready in time:\n${tail(log)}`);
    await sleep(50);
  }
  // The server writes the file atomically (temp file, then rename): no partial reads.
  const ready = JSON.parse(readFileSync(readyFile, "utf8"));
  return { ...ready, dir, totpKey: () => readFileSync(join(dir, "data", "totp.key"), "utf8").trim() };
}

export function client(server, token, options = {}) {
  return new TesseraClient(`http://${server.grpc_addr}`, { token, timeoutMs: 20_000, ...options });
}

/** One `tessera serve` over TLS on the shared server's database. */
export async function replica(server, pki, name, ...extra) {
  const log = join(scratchDir(), `${name}-${Date.now()}.log`);
  const child = spawn(
    bin(),
    [
      "--log-format",
      "json",
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--skip-migrations",
      "--tls-cert",
      pki.serverCert,
      "--tls-key",
      pki.serverKey,
      ...extra,
    ],
    {
      env: env({ TESSERA_DATABASE_URL: server.database_url, TESSERA_TOTP_KEY: server.totpKey(), TESSERA_LOG: "info" }),
      stdio: ["ignore", openSync(log, "w"), openSync(log, "a")],
    },
  );
  child.signalOnStop = "SIGKILL";
  children.add(child);
  const deadline = Date.now() + READY_MS;
  for (;;) {
    for (const line of readFileSync(log, "utf8").split("\n")) {
      try {
        const entry = JSON.parse(line);
        if (entry.fields?.message === "tessera serving gRPC") return { child, addr: entry.fields.addr };
      } catch {
        // not a JSON line yet
      }
    }
    if (child.exitCode !== null) throw new Error(`tessera serve exited before serving:\n${tail(log)}`);
    if (Date.now() > deadline) throw new Error(`tessera serve not serving in time:\n${tail(log)}`);
    await sleep(50);
  }
}

let pki;
/**
 * PEM files made with openssl: a server CA and its certificate for 127.0.0.1 and localhost (and one
 * for each name alone: localhostCert, ipCert), a client CA and its certificate.
 */
export function makePki() {
  if (pki) return pki;
  const dir = join(scratchDir(), "pki");
  mkdirSync(dir);
  const openssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  writeFileSync(join(dir, "localhost.ext"), "subjectAltName=DNS:localhost\n");
  writeFileSync(join(dir, "ip.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const ca of ["server-ca", "client-ca"]) {
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=ts test ${ca}`,
    );
  }
  for (const [leaf, ca, ext] of [
    ["server", "server-ca", "san.ext"],
    ["server-localhost", "server-ca", "localhost.ext"],
    ["server-ip", "server-ca", "ip.ext"],
    ["client", "client-ca", "san.ext"],
  ]) {
    openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${leaf}.key`,
      "-out",
      `${leaf}.csr`,
      "-subj",
      `/CN=tessera ${leaf}`,
    );
    openssl(
      "x509",
      "-req",
      "-in",
      `${leaf}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${leaf}.pem`,
      "-days",
      "2",
      "-extfile",
      ext,
    );
  }
  const at = (f) => join(dir, f);
  pki = {
    ca: at("server-ca.pem"),
    serverCert: at("server.pem"),
    serverKey: at("server.key"),
    localhostCert: { cert: at("server-localhost.pem"), key: at("server-localhost.key") },
    ipCert: { cert: at("server-ip.pem"), key: at("server-ip.key") },
    clientCa: at("client-ca.pem"),
    clientCert: at("client.pem"),
    clientKey: at("client.key"),
  };
  return pki;
}

export function removeScratch() {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}

/** Asserts promise rejects with reason (and its table code); returns the error. */
export async function fails(reason, promise) {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (e) {
    assert.ok(e instanceof TesseraError, `want a TesseraError, got ${e}`);
    assert.equal(e.reason, reason, `want ${reason}, got ${e.reason} (${e.message})`);
    return e;
  }
  assert.fail(`want ${reason}, the call succeeded`);
}

/** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret. */
export async function totp(base32, at = Date.now()) {
  const { createHmac } = await import("node:crypto");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.toUpperCase().replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
