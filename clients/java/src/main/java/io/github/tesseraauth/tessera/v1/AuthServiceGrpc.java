package io.github.tesseraauth.tessera.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * AuthService answers one question for every other service: is this token good, and may it touch
 * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
 * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
 * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
 * client, the Python client and the Go client to it.
 *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
 *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
 *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
 *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
 *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
 *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
 *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
 *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
 *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
 *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
 *   USER_NOT_FOUND      NOT_FOUND           no account by that name
 *   USER_EXISTS         ALREADY_EXISTS      the username is taken
 *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
 *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
 *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
 *                                           moved backwards by a restore or failover): resync
 *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
 *   INTERNAL            INTERNAL            a bug; details go to the server's log only
 * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
 * metadata carries its name under `field`.
 * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
 * bytes") and a character policy; both are checked before the caller is authenticated and before
 * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
 * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
 * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
 * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class AuthServiceGrpc {

  private AuthServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "tessera.v1.AuthService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.LoginRequest,
      io.github.tesseraauth.tessera.v1.LoginResponse> getLoginMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Login",
      requestType = io.github.tesseraauth.tessera.v1.LoginRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.LoginResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.LoginRequest,
      io.github.tesseraauth.tessera.v1.LoginResponse> getLoginMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.LoginRequest, io.github.tesseraauth.tessera.v1.LoginResponse> getLoginMethod;
    if ((getLoginMethod = AuthServiceGrpc.getLoginMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getLoginMethod = AuthServiceGrpc.getLoginMethod) == null) {
          AuthServiceGrpc.getLoginMethod = getLoginMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.LoginRequest, io.github.tesseraauth.tessera.v1.LoginResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Login"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.LoginRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.LoginResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("Login"))
              .build();
        }
      }
    }
    return getLoginMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.UnlockRequest,
      io.github.tesseraauth.tessera.v1.UnlockResponse> getUnlockMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Unlock",
      requestType = io.github.tesseraauth.tessera.v1.UnlockRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.UnlockResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.UnlockRequest,
      io.github.tesseraauth.tessera.v1.UnlockResponse> getUnlockMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.UnlockRequest, io.github.tesseraauth.tessera.v1.UnlockResponse> getUnlockMethod;
    if ((getUnlockMethod = AuthServiceGrpc.getUnlockMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getUnlockMethod = AuthServiceGrpc.getUnlockMethod) == null) {
          AuthServiceGrpc.getUnlockMethod = getUnlockMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.UnlockRequest, io.github.tesseraauth.tessera.v1.UnlockResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Unlock"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.UnlockRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.UnlockResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("Unlock"))
              .build();
        }
      }
    }
    return getUnlockMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.RevokeRequest,
      io.github.tesseraauth.tessera.v1.RevokeResponse> getRevokeMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Revoke",
      requestType = io.github.tesseraauth.tessera.v1.RevokeRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.RevokeResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.RevokeRequest,
      io.github.tesseraauth.tessera.v1.RevokeResponse> getRevokeMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.RevokeRequest, io.github.tesseraauth.tessera.v1.RevokeResponse> getRevokeMethod;
    if ((getRevokeMethod = AuthServiceGrpc.getRevokeMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getRevokeMethod = AuthServiceGrpc.getRevokeMethod) == null) {
          AuthServiceGrpc.getRevokeMethod = getRevokeMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.RevokeRequest, io.github.tesseraauth.tessera.v1.RevokeResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Revoke"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.RevokeRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.RevokeResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("Revoke"))
              .build();
        }
      }
    }
    return getRevokeMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.IssueTokenRequest,
      io.github.tesseraauth.tessera.v1.IssueTokenResponse> getIssueTokenMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "IssueToken",
      requestType = io.github.tesseraauth.tessera.v1.IssueTokenRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.IssueTokenResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.IssueTokenRequest,
      io.github.tesseraauth.tessera.v1.IssueTokenResponse> getIssueTokenMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.IssueTokenRequest, io.github.tesseraauth.tessera.v1.IssueTokenResponse> getIssueTokenMethod;
    if ((getIssueTokenMethod = AuthServiceGrpc.getIssueTokenMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getIssueTokenMethod = AuthServiceGrpc.getIssueTokenMethod) == null) {
          AuthServiceGrpc.getIssueTokenMethod = getIssueTokenMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.IssueTokenRequest, io.github.tesseraauth.tessera.v1.IssueTokenResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "IssueToken"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.IssueTokenRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.IssueTokenResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("IssueToken"))
              .build();
        }
      }
    }
    return getIssueTokenMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.IntrospectRequest,
      io.github.tesseraauth.tessera.v1.IntrospectResponse> getIntrospectMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Introspect",
      requestType = io.github.tesseraauth.tessera.v1.IntrospectRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.IntrospectResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.IntrospectRequest,
      io.github.tesseraauth.tessera.v1.IntrospectResponse> getIntrospectMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.IntrospectRequest, io.github.tesseraauth.tessera.v1.IntrospectResponse> getIntrospectMethod;
    if ((getIntrospectMethod = AuthServiceGrpc.getIntrospectMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getIntrospectMethod = AuthServiceGrpc.getIntrospectMethod) == null) {
          AuthServiceGrpc.getIntrospectMethod = getIntrospectMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.IntrospectRequest, io.github.tesseraauth.tessera.v1.IntrospectResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Introspect"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.IntrospectRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.IntrospectResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("Introspect"))
              .build();
        }
      }
    }
    return getIntrospectMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.CheckNamespaceRequest,
      io.github.tesseraauth.tessera.v1.CheckNamespaceResponse> getCheckNamespaceMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CheckNamespace",
      requestType = io.github.tesseraauth.tessera.v1.CheckNamespaceRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.CheckNamespaceResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.CheckNamespaceRequest,
      io.github.tesseraauth.tessera.v1.CheckNamespaceResponse> getCheckNamespaceMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.CheckNamespaceRequest, io.github.tesseraauth.tessera.v1.CheckNamespaceResponse> getCheckNamespaceMethod;
    if ((getCheckNamespaceMethod = AuthServiceGrpc.getCheckNamespaceMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getCheckNamespaceMethod = AuthServiceGrpc.getCheckNamespaceMethod) == null) {
          AuthServiceGrpc.getCheckNamespaceMethod = getCheckNamespaceMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.CheckNamespaceRequest, io.github.tesseraauth.tessera.v1.CheckNamespaceResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CheckNamespace"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.CheckNamespaceRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.CheckNamespaceResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("CheckNamespace"))
              .build();
        }
      }
    }
    return getCheckNamespaceMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.WatchRevocationsRequest,
      io.github.tesseraauth.tessera.v1.WatchRevocationsResponse> getWatchRevocationsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchRevocations",
      requestType = io.github.tesseraauth.tessera.v1.WatchRevocationsRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.WatchRevocationsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.WatchRevocationsRequest,
      io.github.tesseraauth.tessera.v1.WatchRevocationsResponse> getWatchRevocationsMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.WatchRevocationsRequest, io.github.tesseraauth.tessera.v1.WatchRevocationsResponse> getWatchRevocationsMethod;
    if ((getWatchRevocationsMethod = AuthServiceGrpc.getWatchRevocationsMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getWatchRevocationsMethod = AuthServiceGrpc.getWatchRevocationsMethod) == null) {
          AuthServiceGrpc.getWatchRevocationsMethod = getWatchRevocationsMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.WatchRevocationsRequest, io.github.tesseraauth.tessera.v1.WatchRevocationsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchRevocations"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.WatchRevocationsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.WatchRevocationsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("WatchRevocations"))
              .build();
        }
      }
    }
    return getWatchRevocationsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest,
      io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse> getAcknowledgeRevocationsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "AcknowledgeRevocations",
      requestType = io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest,
      io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse> getAcknowledgeRevocationsMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest, io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse> getAcknowledgeRevocationsMethod;
    if ((getAcknowledgeRevocationsMethod = AuthServiceGrpc.getAcknowledgeRevocationsMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getAcknowledgeRevocationsMethod = AuthServiceGrpc.getAcknowledgeRevocationsMethod) == null) {
          AuthServiceGrpc.getAcknowledgeRevocationsMethod = getAcknowledgeRevocationsMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest, io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "AcknowledgeRevocations"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("AcknowledgeRevocations"))
              .build();
        }
      }
    }
    return getAcknowledgeRevocationsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.GetJwksRequest,
      io.github.tesseraauth.tessera.v1.GetJwksResponse> getGetJwksMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetJwks",
      requestType = io.github.tesseraauth.tessera.v1.GetJwksRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.GetJwksResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.GetJwksRequest,
      io.github.tesseraauth.tessera.v1.GetJwksResponse> getGetJwksMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.GetJwksRequest, io.github.tesseraauth.tessera.v1.GetJwksResponse> getGetJwksMethod;
    if ((getGetJwksMethod = AuthServiceGrpc.getGetJwksMethod) == null) {
      synchronized (AuthServiceGrpc.class) {
        if ((getGetJwksMethod = AuthServiceGrpc.getGetJwksMethod) == null) {
          AuthServiceGrpc.getGetJwksMethod = getGetJwksMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.GetJwksRequest, io.github.tesseraauth.tessera.v1.GetJwksResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetJwks"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.GetJwksRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.GetJwksResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AuthServiceMethodDescriptorSupplier("GetJwks"))
              .build();
        }
      }
    }
    return getGetJwksMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static AuthServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AuthServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AuthServiceStub>() {
        @java.lang.Override
        public AuthServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AuthServiceStub(channel, callOptions);
        }
      };
    return AuthServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static AuthServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AuthServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AuthServiceBlockingV2Stub>() {
        @java.lang.Override
        public AuthServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AuthServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return AuthServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static AuthServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AuthServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AuthServiceBlockingStub>() {
        @java.lang.Override
        public AuthServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AuthServiceBlockingStub(channel, callOptions);
        }
      };
    return AuthServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static AuthServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AuthServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AuthServiceFutureStub>() {
        @java.lang.Override
        public AuthServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AuthServiceFutureStub(channel, callOptions);
        }
      };
    return AuthServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * AuthService answers one question for every other service: is this token good, and may it touch
   * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
   * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
   * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
   * client, the Python client and the Go client to it.
   *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
   *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
   *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
   *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
   *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
   *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
   *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
   *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
   *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
   *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
   *   USER_NOT_FOUND      NOT_FOUND           no account by that name
   *   USER_EXISTS         ALREADY_EXISTS      the username is taken
   *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
   *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
   *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
   *                                           moved backwards by a restore or failover): resync
   *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
   *   INTERNAL            INTERNAL            a bug; details go to the server's log only
   * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
   * metadata carries its name under `field`.
   * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
   * bytes") and a character policy; both are checked before the caller is authenticated and before
   * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
   * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
   * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
   * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Login verifies a username, password and (when enrolled) TOTP code and opens a session.
     * Unknown user, wrong password and a locked account answer identically (INVALID_CREDENTIALS,
     * after the same password-hashing work). Repeated failures lock the account all the same.
     * </pre>
     */
    default void login(io.github.tesseraauth.tessera.v1.LoginRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.LoginResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getLoginMethod(), responseObserver);
    }

    /**
     * <pre>
     * Unlock mints a short-lived elevated child of the caller's session ("sudo mode").
     * </pre>
     */
    default void unlock(io.github.tesseraauth.tessera.v1.UnlockRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.UnlockResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUnlockMethod(), responseObserver);
    }

    /**
     * <pre>
     * Revoke revokes a token and every token derived from it, in one transaction, including tokens
     * being derived at that moment. It returns when the revocation is everywhere: every follower of
     * the revocation feed that holds a lease (replica caches, edges) has acknowledged it, or that
     * follower's lease has run out so it serves nothing from its cache; the response says which.
     * `no_wait` returns right after the commit instead.
     * </pre>
     */
    default void revoke(io.github.tesseraauth.tessera.v1.RevokeRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.RevokeResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRevokeMethod(), responseObserver);
    }

    /**
     * <pre>
     * IssueToken derives a token from the caller's; it never exceeds the caller's scope, never
     * inherits `admin` or `issue` unless they are named, and takes its uses from a limited caller.
     * </pre>
     */
    default void issueToken(io.github.tesseraauth.tessera.v1.IssueTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.IssueTokenResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getIssueTokenMethod(), responseObserver);
    }

    /**
     * <pre>
     * Introspect says whether a token is active and what it holds (RFC 7662 shape).
     * The caller needs the `introspect` permission. Counts one use of a limited-use token unless `peek`.
     * </pre>
     */
    default void introspect(io.github.tesseraauth.tessera.v1.IntrospectRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.IntrospectResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getIntrospectMethod(), responseObserver);
    }

    /**
     * <pre>
     * CheckNamespace decides whether a token may touch each of the given identifiers.
     * The caller needs the `introspect` permission. Never consumes a use.
     * </pre>
     */
    default void checkNamespace(io.github.tesseraauth.tessera.v1.CheckNamespaceRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.CheckNamespaceResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCheckNamespaceMethod(), responseObserver);
    }

    /**
     * <pre>
     * WatchRevocations streams every revocation in order, resumable after `after_sequence`.
     * For edges and replicas: the caller needs the `introspect` permission on a SERVICE token of an
     * admin-role account, or on a static or master token (otherwise AUTH_DENIED). The stream ends
     * with AUTH_FAILED when the caller's own token is revoked or expires. Streams per caller are
     * limited (RESOURCE_EXHAUSTED beyond the server's `--watch-streams-per-caller`).
     * The feed is pruned after the server's `--revocation-retention`. When `after_sequence` &gt; 0 and
     * revocations after it were pruned (it is below the oldest retained sequence − 1), the stream
     * ends at once with FAILED_PRECONDITION and reason RESYNC_REQUIRED, ErrorInfo metadata
     * `oldest_sequence` = the oldest retained sequence; the same ends a stream that falls behind
     * into pruned history. A watcher then drops every cached verdict (anything it learnt from the
     * feed or cached while following it) and watches again with `after_sequence` = 0, never from
     * `oldest_sequence`: a silent gap would leave revoked tokens cached.
     * A resume point the feed no longer holds (its `after_anchor` names another revocation, or
     * `after_sequence` is beyond the newest one: the database was restored, recovered to a point in
     * time or failed over to a standby that lags) ends the stream the same way, RESYNC_REQUIRED. A
     * stream ends with UNAVAILABLE when the serving replica can no longer prove its own feed current,
     * and with RESYNC_REQUIRED when that replica found the feed moved backwards.
     * </pre>
     */
    default void watchRevocations(io.github.tesseraauth.tessera.v1.WatchRevocationsRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.WatchRevocationsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchRevocationsMethod(), responseObserver);
    }

    /**
     * <pre>
     * AcknowledgeRevocations is a feed follower's heartbeat: it acknowledges the revocations the
     * follower has applied (Revoke waits for these) and, when nothing newer is committed, grants the
     * follower a lease: it may serve decisions from its cache for `lease`, measured from before it
     * sent this call. Same caller rules as WatchRevocations. A position the feed no longer holds
     * answers RESYNC_REQUIRED: drop everything learnt from the feed and follow from the head.
     * </pre>
     */
    default void acknowledgeRevocations(io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getAcknowledgeRevocationsMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetJwks returns the public keys that verify Tessera JWTs, as a JSON Web Key Set (RFC 7517).
     * It needs no credential: the keys are public. Keys retired by `tessera keys rotate` stay in the
     * set while they still verify tokens.
     * </pre>
     */
    default void getJwks(io.github.tesseraauth.tessera.v1.GetJwksRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.GetJwksResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetJwksMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service AuthService.
   * <pre>
   * AuthService answers one question for every other service: is this token good, and may it touch
   * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
   * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
   * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
   * client, the Python client and the Go client to it.
   *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
   *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
   *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
   *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
   *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
   *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
   *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
   *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
   *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
   *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
   *   USER_NOT_FOUND      NOT_FOUND           no account by that name
   *   USER_EXISTS         ALREADY_EXISTS      the username is taken
   *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
   *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
   *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
   *                                           moved backwards by a restore or failover): resync
   *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
   *   INTERNAL            INTERNAL            a bug; details go to the server's log only
   * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
   * metadata carries its name under `field`.
   * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
   * bytes") and a character policy; both are checked before the caller is authenticated and before
   * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
   * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
   * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
   * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
   * </pre>
   */
  public static abstract class AuthServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return AuthServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service AuthService.
   * <pre>
   * AuthService answers one question for every other service: is this token good, and may it touch
   * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
   * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
   * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
   * client, the Python client and the Go client to it.
   *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
   *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
   *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
   *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
   *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
   *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
   *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
   *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
   *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
   *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
   *   USER_NOT_FOUND      NOT_FOUND           no account by that name
   *   USER_EXISTS         ALREADY_EXISTS      the username is taken
   *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
   *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
   *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
   *                                           moved backwards by a restore or failover): resync
   *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
   *   INTERNAL            INTERNAL            a bug; details go to the server's log only
   * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
   * metadata carries its name under `field`.
   * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
   * bytes") and a character policy; both are checked before the caller is authenticated and before
   * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
   * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
   * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
   * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
   * </pre>
   */
  public static final class AuthServiceStub
      extends io.grpc.stub.AbstractAsyncStub<AuthServiceStub> {
    private AuthServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AuthServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AuthServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Login verifies a username, password and (when enrolled) TOTP code and opens a session.
     * Unknown user, wrong password and a locked account answer identically (INVALID_CREDENTIALS,
     * after the same password-hashing work). Repeated failures lock the account all the same.
     * </pre>
     */
    public void login(io.github.tesseraauth.tessera.v1.LoginRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.LoginResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getLoginMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Unlock mints a short-lived elevated child of the caller's session ("sudo mode").
     * </pre>
     */
    public void unlock(io.github.tesseraauth.tessera.v1.UnlockRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.UnlockResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUnlockMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Revoke revokes a token and every token derived from it, in one transaction, including tokens
     * being derived at that moment. It returns when the revocation is everywhere: every follower of
     * the revocation feed that holds a lease (replica caches, edges) has acknowledged it, or that
     * follower's lease has run out so it serves nothing from its cache; the response says which.
     * `no_wait` returns right after the commit instead.
     * </pre>
     */
    public void revoke(io.github.tesseraauth.tessera.v1.RevokeRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.RevokeResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRevokeMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * IssueToken derives a token from the caller's; it never exceeds the caller's scope, never
     * inherits `admin` or `issue` unless they are named, and takes its uses from a limited caller.
     * </pre>
     */
    public void issueToken(io.github.tesseraauth.tessera.v1.IssueTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.IssueTokenResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getIssueTokenMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Introspect says whether a token is active and what it holds (RFC 7662 shape).
     * The caller needs the `introspect` permission. Counts one use of a limited-use token unless `peek`.
     * </pre>
     */
    public void introspect(io.github.tesseraauth.tessera.v1.IntrospectRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.IntrospectResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getIntrospectMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * CheckNamespace decides whether a token may touch each of the given identifiers.
     * The caller needs the `introspect` permission. Never consumes a use.
     * </pre>
     */
    public void checkNamespace(io.github.tesseraauth.tessera.v1.CheckNamespaceRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.CheckNamespaceResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCheckNamespaceMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * WatchRevocations streams every revocation in order, resumable after `after_sequence`.
     * For edges and replicas: the caller needs the `introspect` permission on a SERVICE token of an
     * admin-role account, or on a static or master token (otherwise AUTH_DENIED). The stream ends
     * with AUTH_FAILED when the caller's own token is revoked or expires. Streams per caller are
     * limited (RESOURCE_EXHAUSTED beyond the server's `--watch-streams-per-caller`).
     * The feed is pruned after the server's `--revocation-retention`. When `after_sequence` &gt; 0 and
     * revocations after it were pruned (it is below the oldest retained sequence − 1), the stream
     * ends at once with FAILED_PRECONDITION and reason RESYNC_REQUIRED, ErrorInfo metadata
     * `oldest_sequence` = the oldest retained sequence; the same ends a stream that falls behind
     * into pruned history. A watcher then drops every cached verdict (anything it learnt from the
     * feed or cached while following it) and watches again with `after_sequence` = 0, never from
     * `oldest_sequence`: a silent gap would leave revoked tokens cached.
     * A resume point the feed no longer holds (its `after_anchor` names another revocation, or
     * `after_sequence` is beyond the newest one: the database was restored, recovered to a point in
     * time or failed over to a standby that lags) ends the stream the same way, RESYNC_REQUIRED. A
     * stream ends with UNAVAILABLE when the serving replica can no longer prove its own feed current,
     * and with RESYNC_REQUIRED when that replica found the feed moved backwards.
     * </pre>
     */
    public void watchRevocations(io.github.tesseraauth.tessera.v1.WatchRevocationsRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.WatchRevocationsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchRevocationsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * AcknowledgeRevocations is a feed follower's heartbeat: it acknowledges the revocations the
     * follower has applied (Revoke waits for these) and, when nothing newer is committed, grants the
     * follower a lease: it may serve decisions from its cache for `lease`, measured from before it
     * sent this call. Same caller rules as WatchRevocations. A position the feed no longer holds
     * answers RESYNC_REQUIRED: drop everything learnt from the feed and follow from the head.
     * </pre>
     */
    public void acknowledgeRevocations(io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getAcknowledgeRevocationsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetJwks returns the public keys that verify Tessera JWTs, as a JSON Web Key Set (RFC 7517).
     * It needs no credential: the keys are public. Keys retired by `tessera keys rotate` stay in the
     * set while they still verify tokens.
     * </pre>
     */
    public void getJwks(io.github.tesseraauth.tessera.v1.GetJwksRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.GetJwksResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetJwksMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service AuthService.
   * <pre>
   * AuthService answers one question for every other service: is this token good, and may it touch
   * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
   * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
   * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
   * client, the Python client and the Go client to it.
   *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
   *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
   *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
   *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
   *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
   *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
   *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
   *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
   *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
   *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
   *   USER_NOT_FOUND      NOT_FOUND           no account by that name
   *   USER_EXISTS         ALREADY_EXISTS      the username is taken
   *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
   *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
   *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
   *                                           moved backwards by a restore or failover): resync
   *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
   *   INTERNAL            INTERNAL            a bug; details go to the server's log only
   * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
   * metadata carries its name under `field`.
   * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
   * bytes") and a character policy; both are checked before the caller is authenticated and before
   * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
   * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
   * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
   * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
   * </pre>
   */
  public static final class AuthServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<AuthServiceBlockingV2Stub> {
    private AuthServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AuthServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AuthServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Login verifies a username, password and (when enrolled) TOTP code and opens a session.
     * Unknown user, wrong password and a locked account answer identically (INVALID_CREDENTIALS,
     * after the same password-hashing work). Repeated failures lock the account all the same.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.LoginResponse login(io.github.tesseraauth.tessera.v1.LoginRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getLoginMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Unlock mints a short-lived elevated child of the caller's session ("sudo mode").
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.UnlockResponse unlock(io.github.tesseraauth.tessera.v1.UnlockRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getUnlockMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Revoke revokes a token and every token derived from it, in one transaction, including tokens
     * being derived at that moment. It returns when the revocation is everywhere: every follower of
     * the revocation feed that holds a lease (replica caches, edges) has acknowledged it, or that
     * follower's lease has run out so it serves nothing from its cache; the response says which.
     * `no_wait` returns right after the commit instead.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.RevokeResponse revoke(io.github.tesseraauth.tessera.v1.RevokeRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRevokeMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * IssueToken derives a token from the caller's; it never exceeds the caller's scope, never
     * inherits `admin` or `issue` unless they are named, and takes its uses from a limited caller.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.IssueTokenResponse issueToken(io.github.tesseraauth.tessera.v1.IssueTokenRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getIssueTokenMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Introspect says whether a token is active and what it holds (RFC 7662 shape).
     * The caller needs the `introspect` permission. Counts one use of a limited-use token unless `peek`.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.IntrospectResponse introspect(io.github.tesseraauth.tessera.v1.IntrospectRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getIntrospectMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * CheckNamespace decides whether a token may touch each of the given identifiers.
     * The caller needs the `introspect` permission. Never consumes a use.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.CheckNamespaceResponse checkNamespace(io.github.tesseraauth.tessera.v1.CheckNamespaceRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCheckNamespaceMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * WatchRevocations streams every revocation in order, resumable after `after_sequence`.
     * For edges and replicas: the caller needs the `introspect` permission on a SERVICE token of an
     * admin-role account, or on a static or master token (otherwise AUTH_DENIED). The stream ends
     * with AUTH_FAILED when the caller's own token is revoked or expires. Streams per caller are
     * limited (RESOURCE_EXHAUSTED beyond the server's `--watch-streams-per-caller`).
     * The feed is pruned after the server's `--revocation-retention`. When `after_sequence` &gt; 0 and
     * revocations after it were pruned (it is below the oldest retained sequence − 1), the stream
     * ends at once with FAILED_PRECONDITION and reason RESYNC_REQUIRED, ErrorInfo metadata
     * `oldest_sequence` = the oldest retained sequence; the same ends a stream that falls behind
     * into pruned history. A watcher then drops every cached verdict (anything it learnt from the
     * feed or cached while following it) and watches again with `after_sequence` = 0, never from
     * `oldest_sequence`: a silent gap would leave revoked tokens cached.
     * A resume point the feed no longer holds (its `after_anchor` names another revocation, or
     * `after_sequence` is beyond the newest one: the database was restored, recovered to a point in
     * time or failed over to a standby that lags) ends the stream the same way, RESYNC_REQUIRED. A
     * stream ends with UNAVAILABLE when the serving replica can no longer prove its own feed current,
     * and with RESYNC_REQUIRED when that replica found the feed moved backwards.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, io.github.tesseraauth.tessera.v1.WatchRevocationsResponse>
        watchRevocations(io.github.tesseraauth.tessera.v1.WatchRevocationsRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getWatchRevocationsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * AcknowledgeRevocations is a feed follower's heartbeat: it acknowledges the revocations the
     * follower has applied (Revoke waits for these) and, when nothing newer is committed, grants the
     * follower a lease: it may serve decisions from its cache for `lease`, measured from before it
     * sent this call. Same caller rules as WatchRevocations. A position the feed no longer holds
     * answers RESYNC_REQUIRED: drop everything learnt from the feed and follow from the head.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse acknowledgeRevocations(io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getAcknowledgeRevocationsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetJwks returns the public keys that verify Tessera JWTs, as a JSON Web Key Set (RFC 7517).
     * It needs no credential: the keys are public. Keys retired by `tessera keys rotate` stay in the
     * set while they still verify tokens.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.GetJwksResponse getJwks(io.github.tesseraauth.tessera.v1.GetJwksRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetJwksMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service AuthService.
   * <pre>
   * AuthService answers one question for every other service: is this token good, and may it touch
   * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
   * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
   * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
   * client, the Python client and the Go client to it.
   *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
   *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
   *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
   *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
   *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
   *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
   *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
   *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
   *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
   *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
   *   USER_NOT_FOUND      NOT_FOUND           no account by that name
   *   USER_EXISTS         ALREADY_EXISTS      the username is taken
   *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
   *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
   *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
   *                                           moved backwards by a restore or failover): resync
   *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
   *   INTERNAL            INTERNAL            a bug; details go to the server's log only
   * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
   * metadata carries its name under `field`.
   * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
   * bytes") and a character policy; both are checked before the caller is authenticated and before
   * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
   * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
   * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
   * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
   * </pre>
   */
  public static final class AuthServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<AuthServiceBlockingStub> {
    private AuthServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AuthServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AuthServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Login verifies a username, password and (when enrolled) TOTP code and opens a session.
     * Unknown user, wrong password and a locked account answer identically (INVALID_CREDENTIALS,
     * after the same password-hashing work). Repeated failures lock the account all the same.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.LoginResponse login(io.github.tesseraauth.tessera.v1.LoginRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getLoginMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Unlock mints a short-lived elevated child of the caller's session ("sudo mode").
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.UnlockResponse unlock(io.github.tesseraauth.tessera.v1.UnlockRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUnlockMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Revoke revokes a token and every token derived from it, in one transaction, including tokens
     * being derived at that moment. It returns when the revocation is everywhere: every follower of
     * the revocation feed that holds a lease (replica caches, edges) has acknowledged it, or that
     * follower's lease has run out so it serves nothing from its cache; the response says which.
     * `no_wait` returns right after the commit instead.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.RevokeResponse revoke(io.github.tesseraauth.tessera.v1.RevokeRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRevokeMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * IssueToken derives a token from the caller's; it never exceeds the caller's scope, never
     * inherits `admin` or `issue` unless they are named, and takes its uses from a limited caller.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.IssueTokenResponse issueToken(io.github.tesseraauth.tessera.v1.IssueTokenRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getIssueTokenMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Introspect says whether a token is active and what it holds (RFC 7662 shape).
     * The caller needs the `introspect` permission. Counts one use of a limited-use token unless `peek`.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.IntrospectResponse introspect(io.github.tesseraauth.tessera.v1.IntrospectRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getIntrospectMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * CheckNamespace decides whether a token may touch each of the given identifiers.
     * The caller needs the `introspect` permission. Never consumes a use.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.CheckNamespaceResponse checkNamespace(io.github.tesseraauth.tessera.v1.CheckNamespaceRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCheckNamespaceMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * WatchRevocations streams every revocation in order, resumable after `after_sequence`.
     * For edges and replicas: the caller needs the `introspect` permission on a SERVICE token of an
     * admin-role account, or on a static or master token (otherwise AUTH_DENIED). The stream ends
     * with AUTH_FAILED when the caller's own token is revoked or expires. Streams per caller are
     * limited (RESOURCE_EXHAUSTED beyond the server's `--watch-streams-per-caller`).
     * The feed is pruned after the server's `--revocation-retention`. When `after_sequence` &gt; 0 and
     * revocations after it were pruned (it is below the oldest retained sequence − 1), the stream
     * ends at once with FAILED_PRECONDITION and reason RESYNC_REQUIRED, ErrorInfo metadata
     * `oldest_sequence` = the oldest retained sequence; the same ends a stream that falls behind
     * into pruned history. A watcher then drops every cached verdict (anything it learnt from the
     * feed or cached while following it) and watches again with `after_sequence` = 0, never from
     * `oldest_sequence`: a silent gap would leave revoked tokens cached.
     * A resume point the feed no longer holds (its `after_anchor` names another revocation, or
     * `after_sequence` is beyond the newest one: the database was restored, recovered to a point in
     * time or failed over to a standby that lags) ends the stream the same way, RESYNC_REQUIRED. A
     * stream ends with UNAVAILABLE when the serving replica can no longer prove its own feed current,
     * and with RESYNC_REQUIRED when that replica found the feed moved backwards.
     * </pre>
     */
    public java.util.Iterator<io.github.tesseraauth.tessera.v1.WatchRevocationsResponse> watchRevocations(
        io.github.tesseraauth.tessera.v1.WatchRevocationsRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchRevocationsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * AcknowledgeRevocations is a feed follower's heartbeat: it acknowledges the revocations the
     * follower has applied (Revoke waits for these) and, when nothing newer is committed, grants the
     * follower a lease: it may serve decisions from its cache for `lease`, measured from before it
     * sent this call. Same caller rules as WatchRevocations. A position the feed no longer holds
     * answers RESYNC_REQUIRED: drop everything learnt from the feed and follow from the head.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse acknowledgeRevocations(io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getAcknowledgeRevocationsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetJwks returns the public keys that verify Tessera JWTs, as a JSON Web Key Set (RFC 7517).
     * It needs no credential: the keys are public. Keys retired by `tessera keys rotate` stay in the
     * set while they still verify tokens.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.GetJwksResponse getJwks(io.github.tesseraauth.tessera.v1.GetJwksRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetJwksMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service AuthService.
   * <pre>
   * AuthService answers one question for every other service: is this token good, and may it touch
   * this name? Callers authenticate with `authorization: Bearer &lt;token&gt;` metadata (Login needs none).
   * Every failure carries a gRPC code and a `google.rpc.ErrorInfo` detail with `domain: "tessera"` and
   * a machine-readable `reason`. This list is the one reason table: a test holds the server, the Rust
   * client, the Python client and the Go client to it.
   *   AUTH_REQUIRED       UNAUTHENTICATED     no bearer token where one is needed
   *   AUTH_FAILED         UNAUTHENTICATED     the caller's token is unknown, expired or revoked
   *   AUTH_DENIED         PERMISSION_DENIED   the caller's token is good but does not reach this far
   *   INVALID_CREDENTIALS UNAUTHENTICATED     wrong username, password or TOTP code (one answer)
   *   MFA_REQUIRED        FAILED_PRECONDITION the password was right; the account needs a TOTP code
   *   ACCOUNT_LOCKED      RESOURCE_EXHAUSTED  locked for a while after repeated failures
   *   PRIVILEGE_EXCEEDED  PERMISSION_DENIED   a derived token would exceed its parent
   *   ELEVATION_REQUIRED  PERMISSION_DENIED   an admin action without admin role or elevation
   *   OVER_PRIVILEGED     PERMISSION_DENIED   a service token holds more than its job needs
   *   INVALID_ARGUMENT    INVALID_ARGUMENT    malformed input; metadata `field` names the field
   *   USER_NOT_FOUND      NOT_FOUND           no account by that name
   *   USER_EXISTS         ALREADY_EXISTS      the username is taken
   *   TOKEN_NOT_FOUND     NOT_FOUND           no token with that id
   *   RESOURCE_EXHAUSTED  RESOURCE_EXHAUSTED  at capacity (password hashing, streams per caller)
   *   RESYNC_REQUIRED     FAILED_PRECONDITION the feed no longer holds the resume point (pruned, or
   *                                           moved backwards by a restore or failover): resync
   *   UNAVAILABLE         UNAVAILABLE         PostgreSQL unreachable, or this replica is draining
   *   INTERNAL            INTERNAL            a bug; details go to the server's log only
   * Clients branch on the reason, never on the message text. Where a field is at fault, ErrorInfo
   * metadata carries its name under `field`.
   * Every string field of a request has a documented maximum length in bytes of UTF-8 ("at most N
   * bytes") and a character policy; both are checked before the caller is authenticated and before
   * any hashing or database work, and a violation is INVALID_ARGUMENT naming the field. Control
   * characters are refused everywhere except in passwords; names and identifiers also refuse Unicode
   * format characters (category Cf: bidi controls, zero-width characters). Nothing is normalised:
   * names and identifiers are compared byte for byte. The bearer token is held to `token`'s maximum.
   * </pre>
   */
  public static final class AuthServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<AuthServiceFutureStub> {
    private AuthServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AuthServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AuthServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Login verifies a username, password and (when enrolled) TOTP code and opens a session.
     * Unknown user, wrong password and a locked account answer identically (INVALID_CREDENTIALS,
     * after the same password-hashing work). Repeated failures lock the account all the same.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.LoginResponse> login(
        io.github.tesseraauth.tessera.v1.LoginRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getLoginMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Unlock mints a short-lived elevated child of the caller's session ("sudo mode").
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.UnlockResponse> unlock(
        io.github.tesseraauth.tessera.v1.UnlockRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUnlockMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Revoke revokes a token and every token derived from it, in one transaction, including tokens
     * being derived at that moment. It returns when the revocation is everywhere: every follower of
     * the revocation feed that holds a lease (replica caches, edges) has acknowledged it, or that
     * follower's lease has run out so it serves nothing from its cache; the response says which.
     * `no_wait` returns right after the commit instead.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.RevokeResponse> revoke(
        io.github.tesseraauth.tessera.v1.RevokeRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRevokeMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * IssueToken derives a token from the caller's; it never exceeds the caller's scope, never
     * inherits `admin` or `issue` unless they are named, and takes its uses from a limited caller.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.IssueTokenResponse> issueToken(
        io.github.tesseraauth.tessera.v1.IssueTokenRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getIssueTokenMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Introspect says whether a token is active and what it holds (RFC 7662 shape).
     * The caller needs the `introspect` permission. Counts one use of a limited-use token unless `peek`.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.IntrospectResponse> introspect(
        io.github.tesseraauth.tessera.v1.IntrospectRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getIntrospectMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * CheckNamespace decides whether a token may touch each of the given identifiers.
     * The caller needs the `introspect` permission. Never consumes a use.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.CheckNamespaceResponse> checkNamespace(
        io.github.tesseraauth.tessera.v1.CheckNamespaceRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCheckNamespaceMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * AcknowledgeRevocations is a feed follower's heartbeat: it acknowledges the revocations the
     * follower has applied (Revoke waits for these) and, when nothing newer is committed, grants the
     * follower a lease: it may serve decisions from its cache for `lease`, measured from before it
     * sent this call. Same caller rules as WatchRevocations. A position the feed no longer holds
     * answers RESYNC_REQUIRED: drop everything learnt from the feed and follow from the head.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse> acknowledgeRevocations(
        io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getAcknowledgeRevocationsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetJwks returns the public keys that verify Tessera JWTs, as a JSON Web Key Set (RFC 7517).
     * It needs no credential: the keys are public. Keys retired by `tessera keys rotate` stay in the
     * set while they still verify tokens.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.GetJwksResponse> getJwks(
        io.github.tesseraauth.tessera.v1.GetJwksRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetJwksMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_LOGIN = 0;
  private static final int METHODID_UNLOCK = 1;
  private static final int METHODID_REVOKE = 2;
  private static final int METHODID_ISSUE_TOKEN = 3;
  private static final int METHODID_INTROSPECT = 4;
  private static final int METHODID_CHECK_NAMESPACE = 5;
  private static final int METHODID_WATCH_REVOCATIONS = 6;
  private static final int METHODID_ACKNOWLEDGE_REVOCATIONS = 7;
  private static final int METHODID_GET_JWKS = 8;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_LOGIN:
          serviceImpl.login((io.github.tesseraauth.tessera.v1.LoginRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.LoginResponse>) responseObserver);
          break;
        case METHODID_UNLOCK:
          serviceImpl.unlock((io.github.tesseraauth.tessera.v1.UnlockRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.UnlockResponse>) responseObserver);
          break;
        case METHODID_REVOKE:
          serviceImpl.revoke((io.github.tesseraauth.tessera.v1.RevokeRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.RevokeResponse>) responseObserver);
          break;
        case METHODID_ISSUE_TOKEN:
          serviceImpl.issueToken((io.github.tesseraauth.tessera.v1.IssueTokenRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.IssueTokenResponse>) responseObserver);
          break;
        case METHODID_INTROSPECT:
          serviceImpl.introspect((io.github.tesseraauth.tessera.v1.IntrospectRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.IntrospectResponse>) responseObserver);
          break;
        case METHODID_CHECK_NAMESPACE:
          serviceImpl.checkNamespace((io.github.tesseraauth.tessera.v1.CheckNamespaceRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.CheckNamespaceResponse>) responseObserver);
          break;
        case METHODID_WATCH_REVOCATIONS:
          serviceImpl.watchRevocations((io.github.tesseraauth.tessera.v1.WatchRevocationsRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.WatchRevocationsResponse>) responseObserver);
          break;
        case METHODID_ACKNOWLEDGE_REVOCATIONS:
          serviceImpl.acknowledgeRevocations((io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse>) responseObserver);
          break;
        case METHODID_GET_JWKS:
          serviceImpl.getJwks((io.github.tesseraauth.tessera.v1.GetJwksRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.GetJwksResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getLoginMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.LoginRequest,
              io.github.tesseraauth.tessera.v1.LoginResponse>(
                service, METHODID_LOGIN)))
        .addMethod(
          getUnlockMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.UnlockRequest,
              io.github.tesseraauth.tessera.v1.UnlockResponse>(
                service, METHODID_UNLOCK)))
        .addMethod(
          getRevokeMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.RevokeRequest,
              io.github.tesseraauth.tessera.v1.RevokeResponse>(
                service, METHODID_REVOKE)))
        .addMethod(
          getIssueTokenMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.IssueTokenRequest,
              io.github.tesseraauth.tessera.v1.IssueTokenResponse>(
                service, METHODID_ISSUE_TOKEN)))
        .addMethod(
          getIntrospectMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.IntrospectRequest,
              io.github.tesseraauth.tessera.v1.IntrospectResponse>(
                service, METHODID_INTROSPECT)))
        .addMethod(
          getCheckNamespaceMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.CheckNamespaceRequest,
              io.github.tesseraauth.tessera.v1.CheckNamespaceResponse>(
                service, METHODID_CHECK_NAMESPACE)))
        .addMethod(
          getWatchRevocationsMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.WatchRevocationsRequest,
              io.github.tesseraauth.tessera.v1.WatchRevocationsResponse>(
                service, METHODID_WATCH_REVOCATIONS)))
        .addMethod(
          getAcknowledgeRevocationsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsRequest,
              io.github.tesseraauth.tessera.v1.AcknowledgeRevocationsResponse>(
                service, METHODID_ACKNOWLEDGE_REVOCATIONS)))
        .addMethod(
          getGetJwksMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.GetJwksRequest,
              io.github.tesseraauth.tessera.v1.GetJwksResponse>(
                service, METHODID_GET_JWKS)))
        .build();
  }

  private static abstract class AuthServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    AuthServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.github.tesseraauth.tessera.v1.AuthProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("AuthService");
    }
  }

  private static final class AuthServiceFileDescriptorSupplier
      extends AuthServiceBaseDescriptorSupplier {
    AuthServiceFileDescriptorSupplier() {}
  }

  private static final class AuthServiceMethodDescriptorSupplier
      extends AuthServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    AuthServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (AuthServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new AuthServiceFileDescriptorSupplier())
              .addMethod(getLoginMethod())
              .addMethod(getUnlockMethod())
              .addMethod(getRevokeMethod())
              .addMethod(getIssueTokenMethod())
              .addMethod(getIntrospectMethod())
              .addMethod(getCheckNamespaceMethod())
              .addMethod(getWatchRevocationsMethod())
              .addMethod(getAcknowledgeRevocationsMethod())
              .addMethod(getGetJwksMethod())
              .build();
        }
      }
    }
    return result;
  }
}
