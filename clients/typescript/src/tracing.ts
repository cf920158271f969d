// OpenTelemetry for the client: a client span per call ("tessera.v1.AuthService/Introspect", rpc.*
// attributes) and the caller's trace context propagated to Tessera in the call's metadata (W3C
// traceparent with the propagator the application registered), so the server's spans join the
// caller's trace. Spans carry the method and status code only: no token, password or TOTP code.
import { InterceptingCall, ListenerBuilder, status as Code, type Interceptor } from "@grpc/grpc-js";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";

export const tracingInterceptor: Interceptor = (options, nextCall) => {
  const path = options.method_definition.path.slice(1);
  const slash = path.indexOf("/");
  const tracer = trace.getTracer("tessera-auth-client");
  const parent = context.active();
  const span = tracer.startSpan(
    path,
    {
      kind: SpanKind.CLIENT,
      attributes: { "rpc.system": "grpc", "rpc.service": path.slice(0, slash), "rpc.method": path.slice(slash + 1) },
    },
    parent,
  );
  const ctx = trace.setSpan(parent, span);
  return new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      propagation.inject(ctx, metadata, { set: (carrier, key, value) => carrier.set(key, value) });
      next(
        metadata,
        new ListenerBuilder()
          .withOnReceiveStatus((status, nextStatus) => {
            span.setAttribute("rpc.grpc.status_code", status.code);
            if (status.code !== Code.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: Code[status.code] });
            span.end();
            nextStatus(status);
          })
          .build(),
      );
    },
  });
};
