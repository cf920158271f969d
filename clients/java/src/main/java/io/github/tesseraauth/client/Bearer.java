package io.github.tesseraauth.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;

/** Adds "authorization: Bearer <token>" to every call: a fixed token, or a source's per call. */
final class Bearer implements ClientInterceptor {
  private final String fixed;
  private final TokenSource source;

  Bearer(String token) {
    this.fixed = "Bearer " + token;
    this.source = null;
  }

  Bearer(TokenSource source) {
    this.fixed = null;
    this.source = source;
  }

  /** The source's token; its failure (or a null answer) as the status a call fails with. */
  static String ask(TokenSource source) {
    String token;
    try {
      token = source.token();
    } catch (Exception e) {
      // INTERNAL, not UNKNOWN: a source's IOException (a file being rotated) is no broken
      // connection.
      throw Status.INTERNAL
          .withDescription("the token source failed: " + e)
          .withCause(e)
          .asRuntimeException();
    }
    if (token == null) {
      throw Status.INTERNAL.withDescription("the token source answered null").asRuntimeException();
    }
    return token;
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
    String value = fixed;
    if (value == null) {
      try {
        String token = ask(source);
        value = token.isEmpty() ? null : "Bearer " + token;
      } catch (io.grpc.StatusRuntimeException e) {
        return new Failed<>(e.getStatus());
      }
    }
    String header = value;
    return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
      @Override
      public void start(Listener<RespT> listener, Metadata headers) {
        if (header != null) {
          headers.put(TesseraClient.AUTHORIZATION, header);
        }
        super.start(listener, headers);
      }
    };
  }

  @Override
  public String toString() {
    return "Bearer[redacted]";
  }

  /** A call that fails as it starts, without reaching the server. */
  private static final class Failed<ReqT, RespT> extends ClientCall<ReqT, RespT> {
    private final Status status;

    Failed(Status status) {
      this.status = status;
    }

    @Override
    public void start(Listener<RespT> listener, Metadata headers) {
      listener.onClose(status, new Metadata());
    }

    @Override
    public void request(int numMessages) {}

    @Override
    public void cancel(String message, Throwable cause) {}

    @Override
    public void halfClose() {}

    @Override
    public void sendMessage(ReqT message) {}
  }
}
