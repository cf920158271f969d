// OpenTelemetry for the client: a client span per call ("tessera.v1.AuthService/Introspect", rpc.*
// attributes) and the caller's trace context propagated to Tessera in the call's metadata (W3C
// traceparent with the propagator the application registered), so the server's spans join the
// caller's trace. Spans carry the method and status code only: no token, password or TOTP code.
// Unary calls (transport.ts) use clientSpan; watches, on grpc-js, the interceptor.
import { InterceptingCall, ListenerBuilder, status as Code, type Interceptor } from "@grpc/grpc-js";
import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";

/** The span of a call to path ("/tessera.v1.AuthService/Introspect"), a child of the active context. */
function startSpan(path: string): { span: Span; ctx: Context } {
  const name = path.slice(1);
  const slash = name.indexOf("/");
  const parent = context.active();
  const span = trace.getTracer("tessera-auth-client").startSpan(
    name,
    {
      kind: SpanKind.CLIENT,
      attributes: { "rpc.system": "grpc", "rpc.service": name.slice(0, slash), "rpc.method": name.slice(slash + 1) },
    },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

function endSpan(span: Span, code: Code): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== Code.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: Code[code] });
  span.end();
}

/** A unary call's span: started now (under the caller's context), its context added to the headers. */
export function clientSpan(path: string): {
  inject(headers: Readonly<Record<string, string>>): Record<string, string>;
  end(code: Code): void;
} {
  const { span, ctx } = startSpan(path);
  return {
    inject(headers) {
      const carrier = { ...headers };
      propagation.inject(ctx, carrier);
      return carrier;
    },
    end: (code) => endSpan(span, code),
  };
}

export const tracingInterceptor: Interceptor = (options, nextCall) => {
  const { span, ctx } = startSpan(options.method_definition.path);
  return new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      propagation.inject(ctx, metadata, { set: (carrier, key, value) => carrier.set(key, value) });
      next(
        metadata,
        new ListenerBuilder()
          .withOnReceiveStatus((status, nextStatus) => {
            endSpan(span, status.code);
            nextStatus(status);
          })
          .build(),
      );
    },
  });
};
