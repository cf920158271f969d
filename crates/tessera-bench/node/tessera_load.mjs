// Drives a Tessera server from Node.js through the clients/typescript TesseraClient (one HTTP/2
// connection, src/transport.ts), the way a Node service calls it; tessera-bench runs it to put a
// Node row beside the tonic, grpc-go and Python rows. The same phases and JSON lines as
// crates/tessera-bench/python/tessera_load.py: the named calls alternate in rounds, each for one
// phase per round with the same concurrency (that many calls in flight) on one channel. With
// --sequential N it instead makes N calls one after another per named call and reports their
// latency quantiles, as clients/go/cmd/tessera-load does. With --sequential N --interleave it measures
// --rounds rounds of N, each when the caller asks: it prints `ready` once warmed up, then runs a round
// per line read from standard input (until its end), so that the caller can measure its own client
// between them on the same machine state. Needs clients/typescript built (npm run build).
//
//   node crates/tessera-bench/node/tessera_load.mjs --addr 127.0.0.1:50051 --caller tsr_svc_… \
//       --target tsr_api_… --calls check,introspect,checknamespace --rounds 5 --phase 2 --concurrency 16
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const sdk = new URL("../../../clients/typescript/", import.meta.url);
const { TesseraClient, parseAddress } = await import(new URL("dist/esm/index.js", sdk).href);
const { Transport, framed } = await import(new URL("dist/esm/transport.js", sdk).href);

const { values: args } = parseArgs({
  options: {
    addr: { type: "string" },
    caller: { type: "string" },
    target: { type: "string" },
    calls: { type: "string", default: "check,introspect,checknamespace" },
    ids: { type: "string", default: "10" },
    rounds: { type: "string", default: "5" },
    phase: { type: "string", default: "2" },
    concurrency: { type: "string", default: "16" },
    sequential: { type: "string", default: "0" },
    interleave: { type: "boolean", default: false },
  },
});
if (!args.addr || !args.caller || !args.target) {
  console.error("tessera_load.mjs: --addr, --caller and --target are required");
  process.exit(2);
}
const identifiers = Array.from({ length: Number(args.ids) }, (_, i) => (i % 2 === 0 ? `deploy.job${i}` : `backup.job${i}`));
const client = new TesseraClient(args.addr, { token: args.caller, timeoutMs: 10_000 });
// grpc.health.v1.Health/Check with an empty request, as raw bytes, on a connection of its own (as
// Python's has a channel of its own) through the transport of the SDK's unary calls: the ratios
// compare the SDK's calls with the cheapest call over the same stack.
const health = new Transport([parseAddress(args.addr)], undefined, new Set(), false);
const raw = (b) => b;
const calls = {
  check: () => health.unary("/grpc.health.v1.Health/Check", framed(new Uint8Array(0)), raw, {}, Date.now() + 10_000),
  introspect: async () => {
    const answer = await client.introspect(args.target);
    if (!answer.active) throw new Error("target token inactive");
  },
  checknamespace: () => client.checkNamespace(args.target, identifiers, "read"),
};
const names = args.calls.split(",").filter(Boolean);
const unknown = names.filter((n) => !(n in calls));
if (unknown.length) {
  console.error(`tessera_load.mjs: unknown calls ${unknown}`);
  process.exit(2);
}

async function phase(name, call, seconds, concurrency, round, count = 0) {
  const latencies = [];
  let errors = 0;
  let firstError = "";
  const deadline = performance.now() + seconds * 1000;
  const worker = async () => {
    while (count > 0 ? latencies.length + errors < count : performance.now() < deadline) {
      const start = performance.now();
      try {
        await call();
      } catch (e) {
        errors++;
        firstError ||= String(e);
        continue;
      }
      latencies.push(performance.now() - start);
    }
  };
  const begin = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - begin) / 1000;
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  const p50 = n ? (n % 2 ? latencies[(n - 1) / 2] : (latencies[n / 2 - 1] + latencies[n / 2]) / 2) * 1000 : 0;
  const p99 = n ? latencies[Math.floor(n * 0.99)] * 1000 : 0;
  const line = { call: name, round, calls: n, errors, seconds: elapsed, per_second: n / elapsed, p50_us: p50, p99_us: p99 };
  if (firstError) line.first_error = firstError;
  return line;
}

// Standard input a line at a time (null at its end), for --interleave.
const input = args.interleave ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : null;
async function nextLine() {
  const { value, done } = await input.next();
  return done ? null : value;
}

const sequential = Number(args.sequential);
const seconds = Number(args.phase);
const concurrency = Number(args.concurrency);
if (sequential > 0) {
  for (const name of names) {
    // Unmeasured warm-up long enough for V8 to optimise the call path, as in a running service:
    // a fresh process's sequential p50 falls until about 5,000 calls (375 µs after 2,000, 250 µs
    // settled), so the call path runs a second with `concurrency` calls in flight first, then
    // 2,000 calls one at a time.
    await phase(name, calls[name], 1, concurrency, -1);
    await phase(name, calls[name], 0, 1, -1, Math.max(sequential, 2000));
    if (!args.interleave) {
      console.log(JSON.stringify(await phase(name, calls[name], 0, 1, 0, sequential)));
      continue;
    }
    console.log("ready");
    for (let round = 0; round < Number(args.rounds) && (await nextLine()) !== null; round++) {
      console.log(JSON.stringify(await phase(name, calls[name], 0, 1, round, sequential)));
    }
  }
} else {
  // Unmeasured warm-up: connections up, caller and target cached, V8 through the hot path.
  for (const name of names) await phase(name, calls[name], Math.min(seconds, 0.5), concurrency, -1);
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const name of names) console.log(JSON.stringify(await phase(name, calls[name], seconds, concurrency, round)));
  }
}
input?.return();
client.close();
health.close();
