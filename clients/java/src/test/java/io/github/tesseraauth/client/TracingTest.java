package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.tesseraauth.tessera.v1.AuthServiceGrpc;
import io.github.tesseraauth.tessera.v1.IntrospectRequest;
import io.github.tesseraauth.tessera.v1.IntrospectResponse;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.stub.StreamObserver;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * Each call gets a client span under the caller's, and the server receives that span as its parent
 * in traceparent (beside the bearer token); no span holds the token.
 */
class TracingTest {
  static final Metadata.Key<String> TRACEPARENT =
      Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);

  @Test
  void tracingRecordsClientSpansAndPropagatesThem() throws Exception {
    List<Metadata> received = new CopyOnWriteArrayList<>();
    AuthServiceGrpc.AuthServiceImplBase recorder =
        new AuthServiceGrpc.AuthServiceImplBase() {
          @Override
          public void introspect(
              IntrospectRequest request, StreamObserver<IntrospectResponse> reply) {
            reply.onNext(IntrospectResponse.newBuilder().setActive(false).build());
            reply.onCompleted();
          }
        };
    ServerInterceptor keep =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            received.add(headers);
            return Contexts.interceptCall(io.grpc.Context.current(), call, headers, next);
          }
        };
    Server server =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(ServerInterceptors.intercept(recorder, keep))
            .build()
            .start();
    List<SpanData> spans = new CopyOnWriteArrayList<>();
    SpanExporter exporter =
        new SpanExporter() {
          @Override
          public CompletableResultCode export(Collection<SpanData> batch) {
            spans.addAll(batch);
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
          }

          @Override
          public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
          }
        };
    OpenTelemetrySdk otel =
        OpenTelemetrySdk.builder()
            .setTracerProvider(
                SdkTracerProvider.builder()
                    .addSpanProcessor(SimpleSpanProcessor.create(exporter))
                    .build())
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();
    try (TesseraClient client =
        TesseraClient.builder("http://127.0.0.1:" + server.getPort())
            .token("planted-service-token")
            .tracing(otel)
            .build()) {
      Span app = otel.getTracer("test").spanBuilder("app").startSpan();
      try (Scope ignored = app.makeCurrent()) {
        assertFalse(client.introspect("planted-token").active());
      } finally {
        app.end();
      }
      SpanData call =
          spans.stream()
              .filter(s -> s.getName().equals("tessera.v1.AuthService/Introspect"))
              .findFirst()
              .orElse(null);
      assertNotNull(call, "no client span: " + spans);
      assertEquals(app.getSpanContext().getSpanId(), call.getParentSpanId());
      assertEquals("grpc", call.getAttributes().get(AttributeKey.stringKey("rpc.system")));
      String traceparent = received.get(0).get(TRACEPARENT);
      assertNotNull(traceparent, "no traceparent reached the server");
      // W3C: version, the caller's trace id, the client span as parent, flags (sampled, maybe
      // random).
      assertTrue(
          traceparent.startsWith(
              "00-" + app.getSpanContext().getTraceId() + "-" + call.getSpanId() + "-"),
          traceparent);
      assertEquals(
          "Bearer planted-service-token", received.get(0).get(TesseraClient.AUTHORIZATION));
      for (SpanData s : spans) {
        assertFalse(
            s.getAttributes().toString().contains("planted"),
            "span " + s.getName() + " holds a secret");
      }
      assertTrue(true);
    } finally {
      server.shutdownNow();
      otel.close();
    }
  }
}
