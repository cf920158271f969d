package io.github.tesseraauth.client;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest;
import io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse;
import io.github.tesseraauth.tessera.v1.AuthServiceGrpc;
import io.github.tesseraauth.tessera.v1.CheckNamespaceRequest;
import io.github.tesseraauth.tessera.v1.GetJwksRequest;
import io.github.tesseraauth.tessera.v1.IntrospectRequest;
import io.github.tesseraauth.tessera.v1.IssueTokenRequest;
import io.github.tesseraauth.tessera.v1.IssueTokenResponse;
import io.github.tesseraauth.tessera.v1.LoginRequest;
import io.github.tesseraauth.tessera.v1.LoginResponse;
import io.github.tesseraauth.tessera.v1.RevokeRequest;
import io.github.tesseraauth.tessera.v1.RevokeResponse;
import io.github.tesseraauth.tessera.v1.TokenFormat;
import io.github.tesseraauth.tessera.v1.TokenType;
import io.github.tesseraauth.tessera.v1.UnlockRequest;
import io.github.tesseraauth.tessera.v1.UnlockResponse;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.opentelemetry.api.GlobalOpenTelemetry;
import io.opentelemetry.api.OpenTelemetry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Talks to Tessera's AuthService (and, through {@link #admin()}, its AdminService) over one gRPC
 * channel. Thread-safe; copies made with {@link #withToken} share the channel. Every unary call has
 * a deadline (10 s unless {@link Builder#defaultTimeout} says otherwise); failures are {@link
 * TesseraException}s carrying the reason.
 *
 * <pre>{@code
 * try (TesseraClient tessera = TesseraClient.builder("http://127.0.0.1:50051").token(serviceToken).build()) {
 *   Introspection info = tessera.introspect(callerToken);
 * }
 * }</pre>
 */
public final class TesseraClient implements AutoCloseable {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final Channel intercepted;
  private final String token;
  private final TokenSource source;
  private final Duration timeout;
  // The channel with the bearer token (fixed, or asked of the source per call), built once: every
  // call would otherwise allocate an interceptor and an intercepting channel before it starts.
  private final Channel bearer;

  private TesseraClient(
      ManagedChannel channel,
      Channel intercepted,
      String token,
      TokenSource source,
      Duration timeout) {
    this.channel = channel;
    this.intercepted = intercepted;
    this.token = token;
    this.source = source;
    this.timeout = timeout;
    if (source != null) {
      this.bearer = ClientInterceptors.intercept(intercepted, new Bearer(source));
    } else {
      this.bearer =
          token.isEmpty()
              ? intercepted
              : ClientInterceptors.intercept(intercepted, new Bearer(token));
    }
  }

  /**
   * A client for the Tessera server at {@code address} (host:port, http://host:port or
   * https://host:port).
   */
  public static Builder builder(String address) {
    return new Builder(List.of(address));
  }

  /**
   * A client for a deployment reachable at several addresses (replicas, in order of preference),
   * all with the same transport security. Calls go to one replica at a time; when it goes away the
   * next reachable one takes over. A call in flight on a replica that dies fails with UNAVAILABLE;
   * calls safe to repeat (Revoke, CheckNamespace, GetJwks, AcknowledgeRevocations, admin reads) are
   * then retried on the next replica, while Login, Unlock, IssueToken and Introspect are re-sent
   * only when they surely never reached a server.
   */
  public static Builder builder(List<String> addresses) {
    return new Builder(addresses);
  }

  /** Configures a client; every address and option is checked by {@link #build()}. */
  public static final class Builder {
    private final List<String> addresses;
    private String token = "";
    private TokenSource source;
    private Duration timeout = Duration.ofSeconds(10);
    private boolean tls;
    private String caFile;
    private String certFile;
    private String keyFile;
    private OpenTelemetry otel;

    private Builder(List<String> addresses) {
      this.addresses = List.copyOf(addresses);
    }

    /** The bearer token every call sends (a service token with introspect, for a guard). */
    public Builder token(String token) {
      this.token = token == null ? "" : token;
      this.source = null;
      return this;
    }

    /**
     * Asks {@code source} for the bearer token of every call instead of a fixed {@link #token}, for
     * a token that is rotated under the client (see {@link TokenSource}).
     */
    public Builder tokenSource(TokenSource source) {
      this.source = source;
      this.token = "";
      return this;
    }

    /** The deadline of every unary call (default 10 s). WatchRevocations runs until closed. */
    public Builder defaultTimeout(Duration timeout) {
      if (timeout == null || timeout.isNegative() || timeout.isZero()) {
        throw TesseraException.refused(
            Reason.INVALID_ARGUMENT, "timeout", "the default timeout must be positive");
      }
      this.timeout = timeout;
      return this;
    }

    /** TLS with the JDK's trusted roots (implied by https:// addresses). */
    public Builder tls() {
      this.tls = true;
      return this;
    }

    /**
     * TLS trusting the PEM CA certificates in {@code caFile} ({@code null}: the JDK's roots) and,
     * when {@code certFile} and {@code keyFile} (PKCS#8 PEM) are given, presenting that client
     * certificate to a server that requires one (mutual TLS, {@code tessera serve --client-ca}).
     */
    public Builder tlsFiles(String caFile, String certFile, String keyFile) {
      if ((certFile == null) != (keyFile == null)) {
        throw TesseraException.refused(
            Reason.INVALID_ARGUMENT, "tls", "give the client certificate and its key together");
      }
      this.tls = true;
      this.caFile = caFile;
      this.certFile = certFile;
      this.keyFile = keyFile;
      return this;
    }

    /**
     * Records a client span per call and propagates the caller's trace context (W3C traceparent
     * with the propagators of {@code otel}) to Tessera.
     */
    public Builder tracing(OpenTelemetry otel) {
      this.otel = otel;
      return this;
    }

    /** {@link #tracing(OpenTelemetry)} with {@link GlobalOpenTelemetry}. */
    public Builder tracing() {
      return tracing(GlobalOpenTelemetry.get());
    }

    public TesseraClient build() {
      if (addresses.isEmpty()) {
        throw TesseraException.refused(
            Reason.INVALID_ARGUMENT, "addr", "no address given; use " + ServerAddress.FORMS);
      }
      List<ServerAddress> parsed = new ArrayList<>();
      Boolean scheme = null;
      for (String text : addresses) {
        ServerAddress a = ServerAddress.parse(text);
        if (a.tls() != null) {
          if (scheme != null && !scheme.equals(a.tls())) {
            throw TesseraException.refused(
                Reason.INVALID_ARGUMENT,
                "addr",
                "mixed http:// and https:// addresses; one deployment uses one transport security");
          }
          scheme = a.tls();
        }
        parsed.add(a);
      }
      if (Boolean.FALSE.equals(scheme) && tls) {
        throw TesseraException.refused(
            Reason.INVALID_ARGUMENT,
            "addr",
            "http:// means plaintext but TLS was configured; use https://");
      }
      boolean useTls = tls || Boolean.TRUE.equals(scheme);
      ManagedChannel channel =
          Channels.open(parsed, Channels.credentials(useTls, caFile, certFile, keyFile));
      Channel base =
          otel == null ? channel : ClientInterceptors.intercept(channel, new Tracing(otel));
      return new TesseraClient(channel, base, token, source, timeout);
    }
  }

  /**
   * A copy that calls with {@code token} as its bearer token (instead of any token source), sharing
   * the channel.
   */
  public TesseraClient withToken(String token) {
    return new TesseraClient(channel, intercepted, token == null ? "" : token, null, timeout);
  }

  /** The AdminService calls, with this client's token and deadline. */
  public AdminClient admin() {
    return new AdminClient(bearerChannel(), timeout);
  }

  /** The channel with this client's token, e.g. for the generated stubs. */
  public Channel channel() {
    return bearerChannel();
  }

  /** Closes the channel, for this client and every copy. */
  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private Channel bearerChannel() {
    return bearer;
  }

  private AuthServiceGrpc.AuthServiceBlockingStub blocking() {
    return AuthServiceGrpc.newBlockingStub(bearerChannel())
        .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  private AuthServiceGrpc.AuthServiceFutureStub future() {
    return AuthServiceGrpc.newFutureStub(bearerChannel())
        .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  static <T> T call(java.util.function.Supplier<T> rpc) {
    try {
      return rpc.get();
    } catch (StatusRuntimeException e) {
      throw TesseraException.from(e);
    }
  }

  /**
   * Verifies credentials and opens a session. Failures: INVALID_CREDENTIALS (unknown user, wrong
   * password or code, deliberately alike), MFA_REQUIRED, ACCOUNT_LOCKED, RESOURCE_EXHAUSTED.
   */
  public Session login(String username, String password, String totpCode) {
    LoginResponse r =
        call(
            () ->
                AuthServiceGrpc.newBlockingStub(intercepted)
                    .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
                    .login(
                        LoginRequest.newBuilder()
                            .setUsername(username)
                            .setPassword(password)
                            .setTotpCode(totpCode == null ? "" : totpCode)
                            .build()));
    return new Session(
        new Secret(r.getToken()),
        r.getTokenId(),
        r.getSessionId(),
        Convert.instant(r.getExpiresAt()),
        r.getUser());
  }

  /** {@link #login(String, String, String)} without a TOTP code. */
  public Session login(String username, String password) {
    return login(username, password, null);
  }

  /**
   * Mints a short-lived elevated child of this client's session ("sudo mode"); ttl null: the
   * server's cap.
   */
  public IssuedToken unlock(String password, String totpCode, Duration ttl) {
    String text = Convert.ttl(ttl);
    UnlockResponse r =
        call(
            () ->
                blocking()
                    .unlock(
                        UnlockRequest.newBuilder()
                            .setPassword(password)
                            .setTotpCode(totpCode == null ? "" : totpCode)
                            .setTtl(text)
                            .build()));
    return new IssuedToken(
        new Secret(r.getToken()),
        r.getTokenId(),
        Convert.instant(r.getExpiresAt()),
        "",
        List.of(),
        OptionalLong.empty());
  }

  /**
   * Revokes the target and everything derived from it, and waits until the revocation is in force
   * everywhere (every follower of the feed acknowledged it or its lease ran out). Your own tokens
   * need no privilege; anyone else's need an admin role or an elevated token (ELEVATION_REQUIRED).
   */
  public RevokeResult revoke(RevokeTarget target, String reason) {
    return revoke(target, reason, false);
  }

  /**
   * {@link #revoke(RevokeTarget, String)}; with {@code noWait} it returns right after the commit.
   */
  public RevokeResult revoke(RevokeTarget target, String reason, boolean noWait) {
    if (target == null) {
      throw TesseraException.refused(Reason.INVALID_ARGUMENT, "target", "name a RevokeTarget");
    }
    RevokeRequest.Builder req =
        RevokeRequest.newBuilder().setReason(reason == null ? "" : reason).setNoWait(noWait);
    target.apply.accept(req);
    RevokeResponse r = call(() -> blocking().revoke(req.build()));
    return new RevokeResult(
        r.getRevokedCount(),
        r.getEverywhere(),
        r.getAcknowledged(),
        List.copyOf(r.getLapsedList()));
  }

  /** Derives a token from this client's. */
  public IssuedToken issueToken(IssueParams params) {
    IssueTokenRequest req =
        IssueTokenRequest.newBuilder()
            .setTtl(Convert.ttl(params.ttl()))
            .setMaxUses(params.maxUses())
            .setNamespace(params.namespace() == null ? "" : params.namespace())
            .addAllPermissions(params.permissions() == null ? List.of() : params.permissions())
            .setDescription(params.description() == null ? "" : params.description())
            .setFormat(
                params.jwt() ? TokenFormat.TOKEN_FORMAT_JWT : TokenFormat.TOKEN_FORMAT_UNSPECIFIED)
            .setTokenType(
                params.service() ? TokenType.TOKEN_TYPE_SERVICE : TokenType.TOKEN_TYPE_API)
            .build();
    IssueTokenResponse r = call(() -> blocking().issueToken(req));
    return new IssuedToken(
        new Secret(r.getToken()),
        r.getTokenId(),
        Convert.instant(r.getExpiresAt()),
        r.getNamespace(),
        List.copyOf(r.getPermissionsList()),
        r.hasMaxUses()
            ? OptionalLong.of(Integer.toUnsignedLong(r.getMaxUses()))
            : OptionalLong.empty());
  }

  /**
   * Whether {@code token} is active and what it holds; counts one use of a limited-use token. This
   * client's token needs the introspect permission.
   */
  public Introspection introspect(String token) {
    return introspect(token, false);
  }

  /** {@link #introspect(String)}; with {@code peek} no use is counted. */
  public Introspection introspect(String token, boolean peek) {
    IntrospectRequest req = IntrospectRequest.newBuilder().setToken(token).setPeek(peek).build();
    return Convert.introspection(call(() -> blocking().introspect(req)));
  }

  /** {@link #introspect(String)} without blocking a thread. */
  public CompletableFuture<Introspection> introspectAsync(String token) {
    IntrospectRequest req = IntrospectRequest.newBuilder().setToken(token).build();
    return complete(future().introspect(req), Convert::introspection);
  }

  /**
   * Whether {@code token} may touch each identifier ("*" allows everything, else an identifier is
   * allowed when it starts with the token's namespace). Never consumes a use.
   */
  public NamespaceDecision checkNamespace(String token, List<String> identifiers, String action) {
    CheckNamespaceRequest req = namespaceRequest(token, identifiers, action);
    return Convert.decision(call(() -> blocking().checkNamespace(req)));
  }

  /** {@link #checkNamespace} without blocking a thread. */
  public CompletableFuture<NamespaceDecision> checkNamespaceAsync(
      String token, List<String> identifiers, String action) {
    return complete(
        future().checkNamespace(namespaceRequest(token, identifiers, action)), Convert::decision);
  }

  private static CheckNamespaceRequest namespaceRequest(
      String token, List<String> identifiers, String action) {
    return CheckNamespaceRequest.newBuilder()
        .setToken(token)
        .addAllIdentifiers(identifiers)
        .setAction(action == null ? "" : action)
        .build();
  }

  /** The JSON Web Key Set that verifies Tessera JWTs (RFC 7517), as JSON text. Needs no token. */
  public String getJwks() {
    return call(() -> blocking().getJwks(GetJwksRequest.getDefaultInstance())).getJwksJson();
  }

  /**
   * Streams every revocation after the options' position to {@code listener}, on a thread of its
   * own, reconnecting and resuming by itself. This client's token needs the introspect permission
   * on a service token of an admin-role account (or a static or master token). No deadline applies.
   */
  public Watch watchRevocations(WatchOptions options, RevocationListener listener) {
    Watch watch =
        new Watch(() -> AuthServiceGrpc.newBlockingStub(bearerChannel()), options, listener);
    watch.start();
    return watch;
  }

  /**
   * A feed follower's heartbeat: acknowledges what it applied (Revoke waits for these) and, when
   * nothing newer is committed, grants a lease to serve from its cache. With {@code
   * acknowledgeOnly} it only records the acknowledgement (right after applying revocations).
   */
  public Acknowledgement acknowledgeRevocations(
      String followerId,
      long appliedSequence,
      String appliedAnchor,
      String name,
      boolean acknowledgeOnly) {
    AcknowledgeRevocationsRequest req =
        AcknowledgeRevocationsRequest.newBuilder()
            .setFollowerId(followerId)
            .setAppliedSequence(appliedSequence)
            .setAppliedAnchor(appliedAnchor == null ? "" : appliedAnchor)
            .setName(name == null ? "" : name)
            .setAcknowledgeOnly(acknowledgeOnly)
            .build();
    AcknowledgeRevocationsResponse r = call(() -> blocking().acknowledgeRevocations(req));
    Duration lease = Duration.ofSeconds(r.getLease().getSeconds(), r.getLease().getNanos());
    return new Acknowledgement(r.getCurrent(), lease, r.getHeadSequence());
  }

  /**
   * Checks this client's own token as a guard must before it serves: active, holding introspect,
   * and without admin rights (AUTH_FAILED, AUTH_DENIED or OVER_PRIVILEGED otherwise).
   */
  public void verifyServiceToken() {
    String own = source == null ? token : call(() -> Bearer.ask(source));
    if (own.isEmpty()) {
      throw TesseraException.refused(
          Reason.AUTH_REQUIRED, "", "the client has no token of its own to verify");
    }
    Introspection info = introspect(own, true);
    if (!info.active()) {
      throw TesseraException.refused(
          Reason.AUTH_FAILED, "", "the client's own token is not active");
    }
    if (!info.identity().permits("introspect")) {
      throw TesseraException.refused(
          Reason.AUTH_DENIED, "", "the client's own token lacks the introspect permission");
    }
    boolean adminRole =
        info.identity().roles().stream()
            .anyMatch(
                r ->
                    List.of("admin", "owner", "superuser", "root")
                        .contains(r.toLowerCase(java.util.Locale.ROOT)));
    if (info.identity().permits("admin") && (info.identity().elevated() || adminRole)) {
      throw TesseraException.refused(
          Reason.OVER_PRIVILEGED,
          "",
          "the client's own token holds admin rights; use a service token with only introspect");
    }
  }

  private static <W, T> CompletableFuture<T> complete(
      ListenableFuture<W> pending, Function<W, T> convert) {
    CompletableFuture<T> out = new CompletableFuture<>();
    Futures.addCallback(
        pending,
        new FutureCallback<W>() {
          @Override
          public void onSuccess(W result) {
            out.complete(convert.apply(result));
          }

          @Override
          public void onFailure(Throwable error) {
            out.completeExceptionally(TesseraException.from(error));
          }
        },
        MoreExecutors.directExecutor());
    return out;
  }
}
