package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCalls;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The gRPC interceptor on a real grpc-java server and the Servlet filter in a real Jetty, both
 * asking the real Tessera: a good token reaches the handler with its identity; no token, a revoked
 * token and a token outside its namespace are refused with the reason.
 */
class GuardTest {
  static Dev dev;
  static TesseraClient admin;
  static TesseraClient guardClient;

  /** jobs.Jobs/Run: a job name in, "ran <job> for <username>" out. */
  static final MethodDescriptor<String, String> RUN =
      MethodDescriptor.<String, String>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName("jobs.Jobs/Run")
          .setRequestMarshaller(new Utf8())
          .setResponseMarshaller(new Utf8())
          .build();

  static final class Utf8 implements MethodDescriptor.Marshaller<String> {
    @Override
    public InputStream stream(String value) {
      return new ByteArrayInputStream(value.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String parse(InputStream stream) {
      try {
        return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  @BeforeAll
  static void start() {
    dev = Dev.shared();
    admin = dev.client(dev.adminToken);
    guardClient = admin.withToken(dev.serviceToken);
  }

  @AfterAll
  static void close() {
    admin.close();
  }

  IssuedToken deployToken() {
    return admin.issueToken(
        IssueParams.ttl(Duration.ofMinutes(30))
            .withNamespace("deploy.")
            .withPermissions(List.of("issue")));
  }

  @Test
  void serverInterceptorProtectsAGrpcService() throws Exception {
    ServerServiceDefinition jobs =
        ServerServiceDefinition.builder("jobs.Jobs")
            .addMethod(
                RUN,
                ServerCalls.asyncUnaryCall(
                    (job, reply) -> {
                      Identity who = TesseraServerInterceptor.IDENTITY.get();
                      reply.onNext("ran " + job + " for " + who.username() + " " + who.tokenId());
                      reply.onCompleted();
                    }))
            .build();
    TesseraServerInterceptor guard =
        TesseraServerInterceptor.builder(guardClient)
            .access((method, request) -> Access.of("", (String) request))
            .build();
    Server server =
        Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
            .addService(ServerInterceptors.intercept(jobs, guard))
            .build()
            .start();
    ManagedChannel channel =
        Grpc.newChannelBuilder("127.0.0.1:" + server.getPort(), InsecureChannelCredentials.create())
            .build();
    try {
      IssuedToken token = deployToken();
      assertEquals(
          "ran deploy.daily for " + dev.adminUsername + " " + token.tokenId(),
          run(channel, token.token().expose(), "deploy.daily"));
      Dev.fails(Reason.AUTH_DENIED, () -> run(channel, token.token().expose(), "backup.daily"));
      Dev.fails(Reason.AUTH_REQUIRED, () -> run(channel, null, "deploy.daily"));
      Dev.fails(Reason.AUTH_FAILED, () -> run(channel, "tsr_api_unknown", "deploy.daily"));
      // Introspect alone (no access rule) must refuse a revoked token too.
      Server plain =
          Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
              .addService(
                  ServerInterceptors.intercept(
                      jobs, TesseraServerInterceptor.builder(guardClient).build()))
              .build()
              .start();
      ManagedChannel toPlain =
          Grpc.newChannelBuilder(
                  "127.0.0.1:" + plain.getPort(), InsecureChannelCredentials.create())
              .build();
      try {
        assertTrue(
            run(toPlain, token.token().expose(), "backup.daily").startsWith("ran backup.daily"));
        admin.revoke(RevokeTarget.tokenId(token.tokenId()), "guard test");
        Dev.fails(Reason.AUTH_FAILED, () -> run(channel, token.token().expose(), "deploy.daily"));
        Dev.fails(Reason.AUTH_FAILED, () -> run(toPlain, token.token().expose(), "backup.daily"));
      } finally {
        toPlain.shutdownNow();
        plain.shutdownNow();
      }
      // Fail closed: a guard whose own token Tessera refuses answers UNAVAILABLE, never admits.
      Server closed =
          Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
              .addService(
                  ServerInterceptors.intercept(
                      jobs,
                      TesseraServerInterceptor.builder(admin.withToken("tsr_svc_revoked")).build()))
              .build()
              .start();
      ManagedChannel toClosed =
          Grpc.newChannelBuilder(
                  "127.0.0.1:" + closed.getPort(), InsecureChannelCredentials.create())
              .build();
      try {
        IssuedToken good = deployToken();
        Dev.fails(Reason.UNAVAILABLE, () -> run(toClosed, good.token().expose(), "deploy.daily"));
      } finally {
        toClosed.shutdownNow();
        closed.shutdownNow();
      }
    } finally {
      channel.shutdownNow();
      server.shutdownNow();
    }
  }

  static String run(ManagedChannel channel, String token, String job) {
    Metadata headers = new Metadata();
    if (token != null) {
      headers.put(TesseraClient.AUTHORIZATION, "Bearer " + token);
    }
    try {
      return ClientCalls.blockingUnaryCall(
          io.grpc.ClientInterceptors.intercept(
              channel, MetadataUtils.newAttachHeadersInterceptor(headers)),
          RUN,
          CallOptions.DEFAULT.withDeadlineAfter(20, java.util.concurrent.TimeUnit.SECONDS),
          job);
    } catch (io.grpc.StatusRuntimeException e) {
      throw TesseraException.from(e);
    }
  }

  @Test
  void servletFilterProtectsAnHttpApplication() throws Exception {
    org.eclipse.jetty.server.Server jetty =
        new org.eclipse.jetty.server.Server(
            new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0));
    ServletContextHandler context = new ServletContextHandler();
    context.addServlet(
        new ServletHolder(
            new HttpServlet() {
              @Override
              protected void doGet(HttpServletRequest req, HttpServletResponse resp)
                  throws IOException {
                Identity who = TesseraFilter.identity(req);
                resp.getWriter()
                    .print("job " + req.getPathInfo().substring(1) + " for " + who.username());
              }
            }),
        "/jobs/*");
    context.addFilter(
        new FilterHolder(
            new TesseraFilter(
                guardClient,
                req ->
                    Access.of(
                        "", req.getPathInfo() == null ? "" : req.getPathInfo().substring(1)))),
        "/jobs/*",
        EnumSet.of(jakarta.servlet.DispatcherType.REQUEST));
    jetty.setHandler(context);
    jetty.start();
    HttpClient http = HttpClient.newHttpClient();
    String base =
        "http://127.0.0.1:"
            + ((org.eclipse.jetty.server.ServerConnector) jetty.getConnectors()[0]).getLocalPort();
    try {
      IssuedToken token = deployToken();
      HttpResponse<String> ok =
          get(http, base + "/jobs/deploy.daily", "Bearer " + token.token().expose());
      assertEquals(200, ok.statusCode(), ok.body());
      assertEquals("job deploy.daily for " + dev.adminUsername, ok.body());

      HttpResponse<String> outside =
          get(http, base + "/jobs/backup.daily", "Bearer " + token.token().expose());
      assertEquals(403, outside.statusCode());
      assertTrue(outside.body().contains("\"tessera_reason\":\"auth_denied\""), outside.body());

      HttpResponse<String> none = get(http, base + "/jobs/deploy.daily", null);
      assertEquals(401, none.statusCode());
      assertTrue(
          none.headers().firstValue("WWW-Authenticate").orElse("").contains("invalid_token"));

      assertEquals(400, get(http, base + "/jobs/deploy.daily", "Bearer a b").statusCode());

      admin.revoke(RevokeTarget.tokenId(token.tokenId()), "filter test");
      HttpResponse<String> revoked =
          get(http, base + "/jobs/deploy.daily", "Bearer " + token.token().expose());
      assertEquals(401, revoked.statusCode(), "a revoked token must not pass the filter");
      assertTrue(revoked.body().contains("\"tessera_reason\":\"auth_failed\""), revoked.body());
      assertEquals("no-store", revoked.headers().firstValue("Cache-Control").orElse(""));
    } finally {
      jetty.stop();
    }
  }

  static HttpResponse<String> get(HttpClient http, String url, String authorization)
      throws Exception {
    HttpRequest.Builder req =
        HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(20));
    if (authorization != null) {
      req.header("Authorization", authorization);
    }
    return http.send(req.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void bearerParsingFollowsTheHttpEdge() {
    assertEquals("tok", Guard.bearer(List.of("Bearer tok")));
    assertEquals("tok", Guard.bearer(List.of("bearer tok")));
    assertEquals(
        Guard.Verdict.NO_TOKEN, ((Guard.Decision) Guard.bearer(List.of("Basic abc"))).verdict());
    for (String bad :
        List.of(
            "Bearer ", "Bearer\ttok", "Bearer a b", "Bearer a\"b", "Bearer " + "x".repeat(5000))) {
      assertEquals(
          Guard.Verdict.MALFORMED, ((Guard.Decision) Guard.bearer(List.of(bad))).verdict(), bad);
    }
    assertEquals(
        Guard.Verdict.MALFORMED,
        ((Guard.Decision) Guard.bearer(List.of("Bearer a", "Bearer b"))).verdict());
    assertThrows(
        ClassCastException.class,
        () -> {
          String unused = (String) Guard.bearer(List.of());
        });
  }
}
