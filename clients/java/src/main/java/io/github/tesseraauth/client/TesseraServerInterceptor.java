package io.github.tesseraauth.client;

import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Guards a grpc-java server: reads "authorization: Bearer &lt;token&gt;", asks Tessera
 * (CheckNamespace when the access rule names identifiers, then Introspect) and runs the handler
 * with the caller's {@link Identity} in {@link #IDENTITY}. Refusals carry ErrorInfo like Tessera's
 * own, so {@link TesseraException#from} reads them: UNAUTHENTICATED AUTH_REQUIRED (no token),
 * UNAUTHENTICATED AUTH_FAILED (malformed or inactive, revoked tokens among them), PERMISSION_DENIED
 * AUTH_DENIED (outside the caller's namespace), INVALID_ARGUMENT (an identifier Tessera refuses),
 * UNAVAILABLE (Tessera cannot answer, or refuses the guard's own token: fail closed).
 *
 * <pre>{@code
 * Server server = ServerBuilder.forPort(8443)
 *     .addService(ServerInterceptors.intercept(new JobsService(),
 *         TesseraServerInterceptor.builder(tessera)
 *             .access((method, request) -> Access.of("run", ((RunRequest) request).getJob()))
 *             .build()))
 *     .build();
 * }</pre>
 *
 * The rule sees the call's first request message, so the decision is taken when it arrives (for
 * calls without one, when the client half-closes); the handler runs only once it is allowed.
 */
public final class TesseraServerInterceptor implements ServerInterceptor {
  /**
   * The identity of the caller, for the handler: {@code TesseraServerInterceptor.IDENTITY.get()}.
   */
  public static final Context.Key<Identity> IDENTITY = Context.key("tessera-identity");

  /** What a call touches, from its full method name and first request message. */
  @FunctionalInterface
  public interface AccessRule {
    Access access(String fullMethodName, Object request);
  }

  private final Guard guard;
  private final AccessRule rule;
  private final Set<String> skipped;

  private TesseraServerInterceptor(TesseraClient client, AccessRule rule, Set<String> skipped) {
    this.guard = new Guard(client);
    this.rule = rule;
    this.skipped = skipped;
  }

  public static Builder builder(TesseraClient client) {
    return new Builder(client);
  }

  /** Configures the interceptor. */
  public static final class Builder {
    private final TesseraClient client;
    private AccessRule rule = (method, request) -> Access.NONE;
    private final List<String> skipped = new ArrayList<>();

    private Builder(TesseraClient client) {
      this.client = client;
    }

    /** Names what each call touches; those identifiers are checked with CheckNamespace. */
    public Builder access(AccessRule rule) {
      this.rule = rule;
      return this;
    }

    /** Lets these full method names ("grpc.health.v1.Health/Check") through unauthenticated. */
    public Builder skip(String... fullMethodNames) {
      skipped.addAll(List.of(fullMethodNames));
      return this;
    }

    public TesseraServerInterceptor build() {
      return new TesseraServerInterceptor(client, rule, Set.copyOf(skipped));
    }
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    String method = call.getMethodDescriptor().getFullMethodName();
    if (skipped.contains(method)) {
      return next.startCall(call, headers);
    }
    Iterable<String> values = headers.getAll(TesseraClient.AUTHORIZATION);
    List<String> list = new ArrayList<>();
    if (values != null) {
      values.forEach(list::add);
    }
    Object bearer = Guard.bearer(list);
    if (bearer instanceof Guard.Decision) {
      Guard.Decision d = (Guard.Decision) bearer;
      Reason reason =
          d.verdict() == Guard.Verdict.NO_TOKEN ? Reason.AUTH_REQUIRED : Reason.AUTH_FAILED;
      refuse(call, TesseraException.statusWithReason(reason, "", d.detail()));
      return new ServerCall.Listener<>() {};
    }
    return new Deciding<>(call, headers, next, method, (String) bearer);
  }

  private static void refuse(ServerCall<?, ?> call, StatusRuntimeException answer) {
    Metadata trailers = answer.getTrailers() == null ? new Metadata() : answer.getTrailers();
    call.close(answer.getStatus(), trailers);
  }

  private static StatusRuntimeException answer(Guard.Decision d) {
    switch (d.verdict()) {
      case INVALID_TOKEN:
      case MALFORMED:
        return TesseraException.statusWithReason(Reason.AUTH_FAILED, "", d.detail());
      case OUT_OF_SCOPE:
        return TesseraException.statusWithReason(Reason.AUTH_DENIED, "", d.detail());
      case BAD_REQUEST:
        return TesseraException.statusWithReason(Reason.INVALID_ARGUMENT, d.field(), d.detail());
      case NO_TOKEN:
        return TesseraException.statusWithReason(Reason.AUTH_REQUIRED, "", d.detail());
      default:
        return TesseraException.statusWithReason(Reason.UNAVAILABLE, "", d.detail());
    }
  }

  /** Holds the call until its first message (or half-close) is in, decides, then hands it on. */
  private final class Deciding<ReqT, RespT> extends ServerCall.Listener<ReqT> {
    private final ServerCall<ReqT, RespT> call;
    private final Metadata headers;
    private final ServerCallHandler<ReqT, RespT> next;
    private final String method;
    private final String token;
    private ServerCall.Listener<ReqT> delegate;
    private Context context;
    private boolean refused;

    Deciding(
        ServerCall<ReqT, RespT> call,
        Metadata headers,
        ServerCallHandler<ReqT, RespT> next,
        String method,
        String token) {
      this.call = call;
      this.headers = headers;
      this.next = next;
      this.method = method;
      this.token = token;
      // The first message must be asked for: the handler, which would ask, has not started yet.
      call.request(1);
    }

    private boolean decide(Object request) {
      if (refused) {
        return false;
      }
      if (delegate != null) {
        return true;
      }
      Guard.Decision d =
          guard.authorize(token, request == null ? Access.NONE : rule.access(method, request));
      if (d.verdict() != Guard.Verdict.ALLOWED) {
        refused = true;
        refuse(call, answer(d));
        return false;
      }
      context = Context.current().withValue(IDENTITY, d.identity());
      Context previous = context.attach();
      try {
        delegate = next.startCall(call, headers);
      } finally {
        context.detach(previous);
      }
      return true;
    }

    private void inContext(Runnable r) {
      Context previous = context.attach();
      try {
        r.run();
      } finally {
        context.detach(previous);
      }
    }

    @Override
    public void onMessage(ReqT message) {
      if (decide(message)) {
        inContext(() -> delegate.onMessage(message));
      }
    }

    @Override
    public void onHalfClose() {
      if (decide(null)) {
        inContext(delegate::onHalfClose);
      }
    }

    @Override
    public void onCancel() {
      if (delegate != null) {
        inContext(delegate::onCancel);
      }
    }

    @Override
    public void onComplete() {
      if (delegate != null) {
        inContext(delegate::onComplete);
      }
    }

    @Override
    public void onReady() {
      if (delegate != null) {
        inContext(delegate::onReady);
      }
    }
  }
}
