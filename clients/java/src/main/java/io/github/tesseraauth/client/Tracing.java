package io.github.tesseraauth.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapSetter;

/**
 * Records an OpenTelemetry client span for every call ("tessera.v1.AuthService/Introspect", rpc.*
 * attributes) and propagates the caller's trace to Tessera in the call's metadata (W3C traceparent
 * with the propagator the application configured), so the server's spans join the caller's trace.
 * Spans carry the method and status code only: no token, password or TOTP code.
 */
final class Tracing implements ClientInterceptor {
  private static final TextMapSetter<Metadata> SETTER =
      (carrier, key, value) ->
          carrier.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value);

  private final OpenTelemetry otel;
  private final Tracer tracer;

  Tracing(OpenTelemetry otel) {
    this.otel = otel;
    this.tracer = otel.getTracer("io.github.tesseraauth.client");
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
    String full = method.getFullMethodName();
    Span span =
        tracer
            .spanBuilder(full)
            .setSpanKind(SpanKind.CLIENT)
            .setAttribute("rpc.system", "grpc")
            .setAttribute("rpc.service", method.getServiceName())
            .setAttribute("rpc.method", full.substring(full.indexOf('/') + 1))
            .startSpan();
    Context context = Context.current().with(span);
    return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
      @Override
      public void start(Listener<RespT> listener, Metadata headers) {
        try (Scope ignored = context.makeCurrent()) {
          otel.getPropagators().getTextMapPropagator().inject(context, headers, SETTER);
        }
        super.start(
            new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
              @Override
              public void onClose(Status status, Metadata trailers) {
                span.setAttribute("rpc.grpc.status_code", status.getCode().value());
                if (!status.isOk()) {
                  span.setStatus(StatusCode.ERROR, status.getCode().name());
                }
                span.end();
                super.onClose(status, trailers);
              }
            },
            headers);
      }
    };
  }
}
