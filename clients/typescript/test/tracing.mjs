import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { create, toBinary } from "@bufbuild/protobuf";
import { pb, TesseraClient } from "../dist/esm/index.js";

// Each call gets a client span under the caller's, the server receives that span as its parent in
// traceparent (beside the bearer token), and no span holds the token.
test("tracing records client spans and propagates them", async () => {
  const received = [];
  const server = new grpc.Server();
  server.register(
    "/tessera.v1.AuthService/Introspect",
    (call, callback) => {
      received.push(call.metadata);
      callback(null, create(pb.IntrospectResponseSchema, { active: false }));
    },
    (m) => Buffer.from(toBinary(pb.IntrospectResponseSchema, m)),
    (b) => b,
    "unary",
  );
  const port = await new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const client = new TesseraClient(`http://127.0.0.1:${port}`, { token: "planted-service-token", tracing: true });
  try {
    const app = provider.getTracer("test").startSpan("app");
    const info = await context.with(trace.setSpan(context.active(), app), () => client.introspect("planted-token"));
    app.end();
    assert.equal(info.active, false);
    const call = exporter.getFinishedSpans().find((s) => s.name === "tessera.v1.AuthService/Introspect");
    assert.ok(call, "no client span");
    assert.equal(call.parentSpanContext?.spanId ?? call.parentSpanId, app.spanContext().spanId);
    assert.equal(call.attributes["rpc.system"], "grpc");
    const [traceparent] = received[0].get("traceparent");
    assert.ok(String(traceparent).startsWith(`00-${app.spanContext().traceId}-${call.spanContext().spanId}-`), String(traceparent));
    assert.deepEqual(received[0].get("authorization"), ["Bearer planted-service-token"]);
    for (const s of exporter.getFinishedSpans())
      assert.ok(!JSON.stringify(s.attributes).includes("planted"), `span ${s.name} holds a secret`);
  } finally {
    client.close();
    server.forceShutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  }
});
