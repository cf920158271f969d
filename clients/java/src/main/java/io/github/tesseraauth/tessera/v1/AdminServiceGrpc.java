package io.github.tesseraauth.tessera.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
 * people who run Tessera never write SQL. Callers authenticate as for AuthService.
 * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
 * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
 * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
 * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
 * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
 * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
 * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
 * A password reset, a disable or a role change ends every token of the account, including sessions
 * being opened at that moment.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class AdminServiceGrpc {

  private AdminServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "tessera.v1.AdminService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.CreateUserRequest,
      io.github.tesseraauth.tessera.v1.CreateUserResponse> getCreateUserMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateUser",
      requestType = io.github.tesseraauth.tessera.v1.CreateUserRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.CreateUserResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.CreateUserRequest,
      io.github.tesseraauth.tessera.v1.CreateUserResponse> getCreateUserMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.CreateUserRequest, io.github.tesseraauth.tessera.v1.CreateUserResponse> getCreateUserMethod;
    if ((getCreateUserMethod = AdminServiceGrpc.getCreateUserMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getCreateUserMethod = AdminServiceGrpc.getCreateUserMethod) == null) {
          AdminServiceGrpc.getCreateUserMethod = getCreateUserMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.CreateUserRequest, io.github.tesseraauth.tessera.v1.CreateUserResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateUser"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.CreateUserRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.CreateUserResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("CreateUser"))
              .build();
        }
      }
    }
    return getCreateUserMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListUsersRequest,
      io.github.tesseraauth.tessera.v1.ListUsersResponse> getListUsersMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListUsers",
      requestType = io.github.tesseraauth.tessera.v1.ListUsersRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.ListUsersResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListUsersRequest,
      io.github.tesseraauth.tessera.v1.ListUsersResponse> getListUsersMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListUsersRequest, io.github.tesseraauth.tessera.v1.ListUsersResponse> getListUsersMethod;
    if ((getListUsersMethod = AdminServiceGrpc.getListUsersMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListUsersMethod = AdminServiceGrpc.getListUsersMethod) == null) {
          AdminServiceGrpc.getListUsersMethod = getListUsersMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.ListUsersRequest, io.github.tesseraauth.tessera.v1.ListUsersResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListUsers"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ListUsersRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ListUsersResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListUsers"))
              .build();
        }
      }
    }
    return getListUsersMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetUserDisabledRequest,
      io.github.tesseraauth.tessera.v1.SetUserDisabledResponse> getSetUserDisabledMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SetUserDisabled",
      requestType = io.github.tesseraauth.tessera.v1.SetUserDisabledRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.SetUserDisabledResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetUserDisabledRequest,
      io.github.tesseraauth.tessera.v1.SetUserDisabledResponse> getSetUserDisabledMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetUserDisabledRequest, io.github.tesseraauth.tessera.v1.SetUserDisabledResponse> getSetUserDisabledMethod;
    if ((getSetUserDisabledMethod = AdminServiceGrpc.getSetUserDisabledMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getSetUserDisabledMethod = AdminServiceGrpc.getSetUserDisabledMethod) == null) {
          AdminServiceGrpc.getSetUserDisabledMethod = getSetUserDisabledMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.SetUserDisabledRequest, io.github.tesseraauth.tessera.v1.SetUserDisabledResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SetUserDisabled"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.SetUserDisabledRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.SetUserDisabledResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("SetUserDisabled"))
              .build();
        }
      }
    }
    return getSetUserDisabledMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetRoleRequest,
      io.github.tesseraauth.tessera.v1.SetRoleResponse> getSetRoleMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SetRole",
      requestType = io.github.tesseraauth.tessera.v1.SetRoleRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.SetRoleResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetRoleRequest,
      io.github.tesseraauth.tessera.v1.SetRoleResponse> getSetRoleMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetRoleRequest, io.github.tesseraauth.tessera.v1.SetRoleResponse> getSetRoleMethod;
    if ((getSetRoleMethod = AdminServiceGrpc.getSetRoleMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getSetRoleMethod = AdminServiceGrpc.getSetRoleMethod) == null) {
          AdminServiceGrpc.getSetRoleMethod = getSetRoleMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.SetRoleRequest, io.github.tesseraauth.tessera.v1.SetRoleResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SetRole"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.SetRoleRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.SetRoleResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("SetRole"))
              .build();
        }
      }
    }
    return getSetRoleMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetPasswordRequest,
      io.github.tesseraauth.tessera.v1.SetPasswordResponse> getSetPasswordMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SetPassword",
      requestType = io.github.tesseraauth.tessera.v1.SetPasswordRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.SetPasswordResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetPasswordRequest,
      io.github.tesseraauth.tessera.v1.SetPasswordResponse> getSetPasswordMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.SetPasswordRequest, io.github.tesseraauth.tessera.v1.SetPasswordResponse> getSetPasswordMethod;
    if ((getSetPasswordMethod = AdminServiceGrpc.getSetPasswordMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getSetPasswordMethod = AdminServiceGrpc.getSetPasswordMethod) == null) {
          AdminServiceGrpc.getSetPasswordMethod = getSetPasswordMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.SetPasswordRequest, io.github.tesseraauth.tessera.v1.SetPasswordResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SetPassword"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.SetPasswordRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.SetPasswordResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("SetPassword"))
              .build();
        }
      }
    }
    return getSetPasswordMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest,
      io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse> getBeginTotpEnrollmentMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "BeginTotpEnrollment",
      requestType = io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest,
      io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse> getBeginTotpEnrollmentMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest, io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse> getBeginTotpEnrollmentMethod;
    if ((getBeginTotpEnrollmentMethod = AdminServiceGrpc.getBeginTotpEnrollmentMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getBeginTotpEnrollmentMethod = AdminServiceGrpc.getBeginTotpEnrollmentMethod) == null) {
          AdminServiceGrpc.getBeginTotpEnrollmentMethod = getBeginTotpEnrollmentMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest, io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "BeginTotpEnrollment"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("BeginTotpEnrollment"))
              .build();
        }
      }
    }
    return getBeginTotpEnrollmentMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest,
      io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse> getConfirmTotpEnrollmentMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ConfirmTotpEnrollment",
      requestType = io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest,
      io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse> getConfirmTotpEnrollmentMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest, io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse> getConfirmTotpEnrollmentMethod;
    if ((getConfirmTotpEnrollmentMethod = AdminServiceGrpc.getConfirmTotpEnrollmentMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getConfirmTotpEnrollmentMethod = AdminServiceGrpc.getConfirmTotpEnrollmentMethod) == null) {
          AdminServiceGrpc.getConfirmTotpEnrollmentMethod = getConfirmTotpEnrollmentMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest, io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ConfirmTotpEnrollment"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ConfirmTotpEnrollment"))
              .build();
        }
      }
    }
    return getConfirmTotpEnrollmentMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.RemoveTotpRequest,
      io.github.tesseraauth.tessera.v1.RemoveTotpResponse> getRemoveTotpMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RemoveTotp",
      requestType = io.github.tesseraauth.tessera.v1.RemoveTotpRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.RemoveTotpResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.RemoveTotpRequest,
      io.github.tesseraauth.tessera.v1.RemoveTotpResponse> getRemoveTotpMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.RemoveTotpRequest, io.github.tesseraauth.tessera.v1.RemoveTotpResponse> getRemoveTotpMethod;
    if ((getRemoveTotpMethod = AdminServiceGrpc.getRemoveTotpMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getRemoveTotpMethod = AdminServiceGrpc.getRemoveTotpMethod) == null) {
          AdminServiceGrpc.getRemoveTotpMethod = getRemoveTotpMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.RemoveTotpRequest, io.github.tesseraauth.tessera.v1.RemoveTotpResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RemoveTotp"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.RemoveTotpRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.RemoveTotpResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("RemoveTotp"))
              .build();
        }
      }
    }
    return getRemoveTotpMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListTokensRequest,
      io.github.tesseraauth.tessera.v1.ListTokensResponse> getListTokensMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListTokens",
      requestType = io.github.tesseraauth.tessera.v1.ListTokensRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.ListTokensResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListTokensRequest,
      io.github.tesseraauth.tessera.v1.ListTokensResponse> getListTokensMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListTokensRequest, io.github.tesseraauth.tessera.v1.ListTokensResponse> getListTokensMethod;
    if ((getListTokensMethod = AdminServiceGrpc.getListTokensMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListTokensMethod = AdminServiceGrpc.getListTokensMethod) == null) {
          AdminServiceGrpc.getListTokensMethod = getListTokensMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.ListTokensRequest, io.github.tesseraauth.tessera.v1.ListTokensResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListTokens"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ListTokensRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ListTokensResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListTokens"))
              .build();
        }
      }
    }
    return getListTokensMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.GetTokenRequest,
      io.github.tesseraauth.tessera.v1.GetTokenResponse> getGetTokenMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetToken",
      requestType = io.github.tesseraauth.tessera.v1.GetTokenRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.GetTokenResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.GetTokenRequest,
      io.github.tesseraauth.tessera.v1.GetTokenResponse> getGetTokenMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.GetTokenRequest, io.github.tesseraauth.tessera.v1.GetTokenResponse> getGetTokenMethod;
    if ((getGetTokenMethod = AdminServiceGrpc.getGetTokenMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getGetTokenMethod = AdminServiceGrpc.getGetTokenMethod) == null) {
          AdminServiceGrpc.getGetTokenMethod = getGetTokenMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.GetTokenRequest, io.github.tesseraauth.tessera.v1.GetTokenResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetToken"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.GetTokenRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.GetTokenResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("GetToken"))
              .build();
        }
      }
    }
    return getGetTokenMethod;
  }

  private static volatile io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListAuditEventsRequest,
      io.github.tesseraauth.tessera.v1.ListAuditEventsResponse> getListAuditEventsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListAuditEvents",
      requestType = io.github.tesseraauth.tessera.v1.ListAuditEventsRequest.class,
      responseType = io.github.tesseraauth.tessera.v1.ListAuditEventsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListAuditEventsRequest,
      io.github.tesseraauth.tessera.v1.ListAuditEventsResponse> getListAuditEventsMethod() {
    io.grpc.MethodDescriptor<io.github.tesseraauth.tessera.v1.ListAuditEventsRequest, io.github.tesseraauth.tessera.v1.ListAuditEventsResponse> getListAuditEventsMethod;
    if ((getListAuditEventsMethod = AdminServiceGrpc.getListAuditEventsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListAuditEventsMethod = AdminServiceGrpc.getListAuditEventsMethod) == null) {
          AdminServiceGrpc.getListAuditEventsMethod = getListAuditEventsMethod =
              io.grpc.MethodDescriptor.<io.github.tesseraauth.tessera.v1.ListAuditEventsRequest, io.github.tesseraauth.tessera.v1.ListAuditEventsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListAuditEvents"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ListAuditEventsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  io.github.tesseraauth.tessera.v1.ListAuditEventsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListAuditEvents"))
              .build();
        }
      }
    }
    return getListAuditEventsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static AdminServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub>() {
        @java.lang.Override
        public AdminServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceStub(channel, callOptions);
        }
      };
    return AdminServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static AdminServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingV2Stub>() {
        @java.lang.Override
        public AdminServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return AdminServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static AdminServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub>() {
        @java.lang.Override
        public AdminServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingStub(channel, callOptions);
        }
      };
    return AdminServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static AdminServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub>() {
        @java.lang.Override
        public AdminServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceFutureStub(channel, callOptions);
        }
      };
    return AdminServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
   * people who run Tessera never write SQL. Callers authenticate as for AuthService.
   * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
   * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
   * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
   * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
   * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
   * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
   * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
   * A password reset, a disable or a role change ends every token of the account, including sessions
   * being opened at that moment.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * CreateUser creates an account with a password (hashed with argon2id, never stored in clear).
     * </pre>
     */
    default void createUser(io.github.tesseraauth.tessera.v1.CreateUserRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.CreateUserResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateUserMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListUsers lists accounts by username, a page at a time.
     * </pre>
     */
    default void listUsers(io.github.tesseraauth.tessera.v1.ListUsersRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListUsersResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListUsersMethod(), responseObserver);
    }

    /**
     * <pre>
     * SetUserDisabled disables an account (its tokens stop working at once) or enables it again.
     * </pre>
     */
    default void setUserDisabled(io.github.tesseraauth.tessera.v1.SetUserDisabledRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetUserDisabledResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSetUserDisabledMethod(), responseObserver);
    }

    /**
     * <pre>
     * SetRole changes an account's role.
     * </pre>
     */
    default void setRole(io.github.tesseraauth.tessera.v1.SetRoleRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetRoleResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSetRoleMethod(), responseObserver);
    }

    /**
     * <pre>
     * SetPassword replaces an account's password and clears its failed-login count and lock.
     * </pre>
     */
    default void setPassword(io.github.tesseraauth.tessera.v1.SetPasswordRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetPasswordResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSetPasswordMethod(), responseObserver);
    }

    /**
     * <pre>
     * BeginTotpEnrollment makes a new TOTP secret for an account; nothing changes until it is confirmed.
     * </pre>
     */
    default void beginTotpEnrollment(io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getBeginTotpEnrollmentMethod(), responseObserver);
    }

    /**
     * <pre>
     * ConfirmTotpEnrollment stores the secret once a first code from it checks out.
     * </pre>
     */
    default void confirmTotpEnrollment(io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getConfirmTotpEnrollmentMethod(), responseObserver);
    }

    /**
     * <pre>
     * RemoveTotp removes an account's second factor.
     * </pre>
     */
    default void removeTotp(io.github.tesseraauth.tessera.v1.RemoveTotpRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.RemoveTotpResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRemoveTotpMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListTokens lists an account's sessions and tokens; never a secret.
     * </pre>
     */
    default void listTokens(io.github.tesseraauth.tessera.v1.ListTokensRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListTokensResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListTokensMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetToken shows one token by id; never its secret.
     * </pre>
     */
    default void getToken(io.github.tesseraauth.tessera.v1.GetTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.GetTokenResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetTokenMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListAuditEvents lists audit events, newest first, filtered and a page at a time.
     * </pre>
     */
    default void listAuditEvents(io.github.tesseraauth.tessera.v1.ListAuditEventsRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListAuditEventsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListAuditEventsMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service AdminService.
   * <pre>
   * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
   * people who run Tessera never write SQL. Callers authenticate as for AuthService.
   * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
   * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
   * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
   * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
   * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
   * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
   * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
   * A password reset, a disable or a role change ends every token of the account, including sessions
   * being opened at that moment.
   * </pre>
   */
  public static abstract class AdminServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return AdminServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service AdminService.
   * <pre>
   * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
   * people who run Tessera never write SQL. Callers authenticate as for AuthService.
   * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
   * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
   * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
   * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
   * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
   * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
   * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
   * A password reset, a disable or a role change ends every token of the account, including sessions
   * being opened at that moment.
   * </pre>
   */
  public static final class AdminServiceStub
      extends io.grpc.stub.AbstractAsyncStub<AdminServiceStub> {
    private AdminServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateUser creates an account with a password (hashed with argon2id, never stored in clear).
     * </pre>
     */
    public void createUser(io.github.tesseraauth.tessera.v1.CreateUserRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.CreateUserResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateUserMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListUsers lists accounts by username, a page at a time.
     * </pre>
     */
    public void listUsers(io.github.tesseraauth.tessera.v1.ListUsersRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListUsersResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListUsersMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * SetUserDisabled disables an account (its tokens stop working at once) or enables it again.
     * </pre>
     */
    public void setUserDisabled(io.github.tesseraauth.tessera.v1.SetUserDisabledRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetUserDisabledResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSetUserDisabledMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * SetRole changes an account's role.
     * </pre>
     */
    public void setRole(io.github.tesseraauth.tessera.v1.SetRoleRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetRoleResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSetRoleMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * SetPassword replaces an account's password and clears its failed-login count and lock.
     * </pre>
     */
    public void setPassword(io.github.tesseraauth.tessera.v1.SetPasswordRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetPasswordResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSetPasswordMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * BeginTotpEnrollment makes a new TOTP secret for an account; nothing changes until it is confirmed.
     * </pre>
     */
    public void beginTotpEnrollment(io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getBeginTotpEnrollmentMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ConfirmTotpEnrollment stores the secret once a first code from it checks out.
     * </pre>
     */
    public void confirmTotpEnrollment(io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getConfirmTotpEnrollmentMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * RemoveTotp removes an account's second factor.
     * </pre>
     */
    public void removeTotp(io.github.tesseraauth.tessera.v1.RemoveTotpRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.RemoveTotpResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRemoveTotpMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListTokens lists an account's sessions and tokens; never a secret.
     * </pre>
     */
    public void listTokens(io.github.tesseraauth.tessera.v1.ListTokensRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListTokensResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListTokensMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetToken shows one token by id; never its secret.
     * </pre>
     */
    public void getToken(io.github.tesseraauth.tessera.v1.GetTokenRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.GetTokenResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetTokenMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListAuditEvents lists audit events, newest first, filtered and a page at a time.
     * </pre>
     */
    public void listAuditEvents(io.github.tesseraauth.tessera.v1.ListAuditEventsRequest request,
        io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListAuditEventsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListAuditEventsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service AdminService.
   * <pre>
   * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
   * people who run Tessera never write SQL. Callers authenticate as for AuthService.
   * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
   * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
   * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
   * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
   * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
   * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
   * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
   * A password reset, a disable or a role change ends every token of the account, including sessions
   * being opened at that moment.
   * </pre>
   */
  public static final class AdminServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingV2Stub> {
    private AdminServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateUser creates an account with a password (hashed with argon2id, never stored in clear).
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.CreateUserResponse createUser(io.github.tesseraauth.tessera.v1.CreateUserRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCreateUserMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListUsers lists accounts by username, a page at a time.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ListUsersResponse listUsers(io.github.tesseraauth.tessera.v1.ListUsersRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListUsersMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetUserDisabled disables an account (its tokens stop working at once) or enables it again.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.SetUserDisabledResponse setUserDisabled(io.github.tesseraauth.tessera.v1.SetUserDisabledRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getSetUserDisabledMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetRole changes an account's role.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.SetRoleResponse setRole(io.github.tesseraauth.tessera.v1.SetRoleRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getSetRoleMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetPassword replaces an account's password and clears its failed-login count and lock.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.SetPasswordResponse setPassword(io.github.tesseraauth.tessera.v1.SetPasswordRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getSetPasswordMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * BeginTotpEnrollment makes a new TOTP secret for an account; nothing changes until it is confirmed.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse beginTotpEnrollment(io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getBeginTotpEnrollmentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ConfirmTotpEnrollment stores the secret once a first code from it checks out.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse confirmTotpEnrollment(io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getConfirmTotpEnrollmentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * RemoveTotp removes an account's second factor.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.RemoveTotpResponse removeTotp(io.github.tesseraauth.tessera.v1.RemoveTotpRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRemoveTotpMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListTokens lists an account's sessions and tokens; never a secret.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ListTokensResponse listTokens(io.github.tesseraauth.tessera.v1.ListTokensRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListTokensMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetToken shows one token by id; never its secret.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.GetTokenResponse getToken(io.github.tesseraauth.tessera.v1.GetTokenRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getGetTokenMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListAuditEvents lists audit events, newest first, filtered and a page at a time.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ListAuditEventsResponse listAuditEvents(io.github.tesseraauth.tessera.v1.ListAuditEventsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListAuditEventsMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service AdminService.
   * <pre>
   * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
   * people who run Tessera never write SQL. Callers authenticate as for AuthService.
   * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
   * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
   * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
   * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
   * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
   * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
   * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
   * A password reset, a disable or a role change ends every token of the account, including sessions
   * being opened at that moment.
   * </pre>
   */
  public static final class AdminServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingStub> {
    private AdminServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateUser creates an account with a password (hashed with argon2id, never stored in clear).
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.CreateUserResponse createUser(io.github.tesseraauth.tessera.v1.CreateUserRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateUserMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListUsers lists accounts by username, a page at a time.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ListUsersResponse listUsers(io.github.tesseraauth.tessera.v1.ListUsersRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListUsersMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetUserDisabled disables an account (its tokens stop working at once) or enables it again.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.SetUserDisabledResponse setUserDisabled(io.github.tesseraauth.tessera.v1.SetUserDisabledRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSetUserDisabledMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetRole changes an account's role.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.SetRoleResponse setRole(io.github.tesseraauth.tessera.v1.SetRoleRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSetRoleMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetPassword replaces an account's password and clears its failed-login count and lock.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.SetPasswordResponse setPassword(io.github.tesseraauth.tessera.v1.SetPasswordRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSetPasswordMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * BeginTotpEnrollment makes a new TOTP secret for an account; nothing changes until it is confirmed.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse beginTotpEnrollment(io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getBeginTotpEnrollmentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ConfirmTotpEnrollment stores the secret once a first code from it checks out.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse confirmTotpEnrollment(io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getConfirmTotpEnrollmentMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * RemoveTotp removes an account's second factor.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.RemoveTotpResponse removeTotp(io.github.tesseraauth.tessera.v1.RemoveTotpRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRemoveTotpMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListTokens lists an account's sessions and tokens; never a secret.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ListTokensResponse listTokens(io.github.tesseraauth.tessera.v1.ListTokensRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListTokensMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetToken shows one token by id; never its secret.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.GetTokenResponse getToken(io.github.tesseraauth.tessera.v1.GetTokenRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetTokenMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListAuditEvents lists audit events, newest first, filtered and a page at a time.
     * </pre>
     */
    public io.github.tesseraauth.tessera.v1.ListAuditEventsResponse listAuditEvents(io.github.tesseraauth.tessera.v1.ListAuditEventsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListAuditEventsMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service AdminService.
   * <pre>
   * AdminService manages accounts, their second factor, their tokens and the audit trail, so the
   * people who run Tessera never write SQL. Callers authenticate as for AuthService.
   * Every write needs admin rights: the `admin` permission together with an admin, owner, superuser or
   * root role, or an elevated token from Unlock (ELEVATION_REQUIRED otherwise). Every write is audited.
   * Listing one's own tokens needs no privilege; anyone else's, and the audit trail, need admin rights.
   * Errors follow AuthService's table (google.rpc.ErrorInfo, domain "tessera"); an unknown account is
   * NOT_FOUND with reason USER_NOT_FOUND, an existing username ALREADY_EXISTS with reason USER_EXISTS.
   * String fields have the maxima written next to them (bytes of UTF-8) and AuthService's character
   * policy; they are checked before authentication or any other work (INVALID_ARGUMENT with `field`).
   * A password reset, a disable or a role change ends every token of the account, including sessions
   * being opened at that moment.
   * </pre>
   */
  public static final class AdminServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<AdminServiceFutureStub> {
    private AdminServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateUser creates an account with a password (hashed with argon2id, never stored in clear).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.CreateUserResponse> createUser(
        io.github.tesseraauth.tessera.v1.CreateUserRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateUserMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListUsers lists accounts by username, a page at a time.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.ListUsersResponse> listUsers(
        io.github.tesseraauth.tessera.v1.ListUsersRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListUsersMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * SetUserDisabled disables an account (its tokens stop working at once) or enables it again.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.SetUserDisabledResponse> setUserDisabled(
        io.github.tesseraauth.tessera.v1.SetUserDisabledRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSetUserDisabledMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * SetRole changes an account's role.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.SetRoleResponse> setRole(
        io.github.tesseraauth.tessera.v1.SetRoleRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSetRoleMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * SetPassword replaces an account's password and clears its failed-login count and lock.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.SetPasswordResponse> setPassword(
        io.github.tesseraauth.tessera.v1.SetPasswordRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSetPasswordMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * BeginTotpEnrollment makes a new TOTP secret for an account; nothing changes until it is confirmed.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse> beginTotpEnrollment(
        io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getBeginTotpEnrollmentMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ConfirmTotpEnrollment stores the secret once a first code from it checks out.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse> confirmTotpEnrollment(
        io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getConfirmTotpEnrollmentMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * RemoveTotp removes an account's second factor.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.RemoveTotpResponse> removeTotp(
        io.github.tesseraauth.tessera.v1.RemoveTotpRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRemoveTotpMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListTokens lists an account's sessions and tokens; never a secret.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.ListTokensResponse> listTokens(
        io.github.tesseraauth.tessera.v1.ListTokensRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListTokensMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetToken shows one token by id; never its secret.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.GetTokenResponse> getToken(
        io.github.tesseraauth.tessera.v1.GetTokenRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetTokenMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListAuditEvents lists audit events, newest first, filtered and a page at a time.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<io.github.tesseraauth.tessera.v1.ListAuditEventsResponse> listAuditEvents(
        io.github.tesseraauth.tessera.v1.ListAuditEventsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListAuditEventsMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CREATE_USER = 0;
  private static final int METHODID_LIST_USERS = 1;
  private static final int METHODID_SET_USER_DISABLED = 2;
  private static final int METHODID_SET_ROLE = 3;
  private static final int METHODID_SET_PASSWORD = 4;
  private static final int METHODID_BEGIN_TOTP_ENROLLMENT = 5;
  private static final int METHODID_CONFIRM_TOTP_ENROLLMENT = 6;
  private static final int METHODID_REMOVE_TOTP = 7;
  private static final int METHODID_LIST_TOKENS = 8;
  private static final int METHODID_GET_TOKEN = 9;
  private static final int METHODID_LIST_AUDIT_EVENTS = 10;

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
        case METHODID_CREATE_USER:
          serviceImpl.createUser((io.github.tesseraauth.tessera.v1.CreateUserRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.CreateUserResponse>) responseObserver);
          break;
        case METHODID_LIST_USERS:
          serviceImpl.listUsers((io.github.tesseraauth.tessera.v1.ListUsersRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListUsersResponse>) responseObserver);
          break;
        case METHODID_SET_USER_DISABLED:
          serviceImpl.setUserDisabled((io.github.tesseraauth.tessera.v1.SetUserDisabledRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetUserDisabledResponse>) responseObserver);
          break;
        case METHODID_SET_ROLE:
          serviceImpl.setRole((io.github.tesseraauth.tessera.v1.SetRoleRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetRoleResponse>) responseObserver);
          break;
        case METHODID_SET_PASSWORD:
          serviceImpl.setPassword((io.github.tesseraauth.tessera.v1.SetPasswordRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.SetPasswordResponse>) responseObserver);
          break;
        case METHODID_BEGIN_TOTP_ENROLLMENT:
          serviceImpl.beginTotpEnrollment((io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse>) responseObserver);
          break;
        case METHODID_CONFIRM_TOTP_ENROLLMENT:
          serviceImpl.confirmTotpEnrollment((io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse>) responseObserver);
          break;
        case METHODID_REMOVE_TOTP:
          serviceImpl.removeTotp((io.github.tesseraauth.tessera.v1.RemoveTotpRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.RemoveTotpResponse>) responseObserver);
          break;
        case METHODID_LIST_TOKENS:
          serviceImpl.listTokens((io.github.tesseraauth.tessera.v1.ListTokensRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListTokensResponse>) responseObserver);
          break;
        case METHODID_GET_TOKEN:
          serviceImpl.getToken((io.github.tesseraauth.tessera.v1.GetTokenRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.GetTokenResponse>) responseObserver);
          break;
        case METHODID_LIST_AUDIT_EVENTS:
          serviceImpl.listAuditEvents((io.github.tesseraauth.tessera.v1.ListAuditEventsRequest) request,
              (io.grpc.stub.StreamObserver<io.github.tesseraauth.tessera.v1.ListAuditEventsResponse>) responseObserver);
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
          getCreateUserMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.CreateUserRequest,
              io.github.tesseraauth.tessera.v1.CreateUserResponse>(
                service, METHODID_CREATE_USER)))
        .addMethod(
          getListUsersMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.ListUsersRequest,
              io.github.tesseraauth.tessera.v1.ListUsersResponse>(
                service, METHODID_LIST_USERS)))
        .addMethod(
          getSetUserDisabledMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.SetUserDisabledRequest,
              io.github.tesseraauth.tessera.v1.SetUserDisabledResponse>(
                service, METHODID_SET_USER_DISABLED)))
        .addMethod(
          getSetRoleMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.SetRoleRequest,
              io.github.tesseraauth.tessera.v1.SetRoleResponse>(
                service, METHODID_SET_ROLE)))
        .addMethod(
          getSetPasswordMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.SetPasswordRequest,
              io.github.tesseraauth.tessera.v1.SetPasswordResponse>(
                service, METHODID_SET_PASSWORD)))
        .addMethod(
          getBeginTotpEnrollmentMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentRequest,
              io.github.tesseraauth.tessera.v1.BeginTotpEnrollmentResponse>(
                service, METHODID_BEGIN_TOTP_ENROLLMENT)))
        .addMethod(
          getConfirmTotpEnrollmentMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentRequest,
              io.github.tesseraauth.tessera.v1.ConfirmTotpEnrollmentResponse>(
                service, METHODID_CONFIRM_TOTP_ENROLLMENT)))
        .addMethod(
          getRemoveTotpMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.RemoveTotpRequest,
              io.github.tesseraauth.tessera.v1.RemoveTotpResponse>(
                service, METHODID_REMOVE_TOTP)))
        .addMethod(
          getListTokensMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.ListTokensRequest,
              io.github.tesseraauth.tessera.v1.ListTokensResponse>(
                service, METHODID_LIST_TOKENS)))
        .addMethod(
          getGetTokenMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.GetTokenRequest,
              io.github.tesseraauth.tessera.v1.GetTokenResponse>(
                service, METHODID_GET_TOKEN)))
        .addMethod(
          getListAuditEventsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              io.github.tesseraauth.tessera.v1.ListAuditEventsRequest,
              io.github.tesseraauth.tessera.v1.ListAuditEventsResponse>(
                service, METHODID_LIST_AUDIT_EVENTS)))
        .build();
  }

  private static abstract class AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    AdminServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return io.github.tesseraauth.tessera.v1.AdminProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("AdminService");
    }
  }

  private static final class AdminServiceFileDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier {
    AdminServiceFileDescriptorSupplier() {}
  }

  private static final class AdminServiceMethodDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    AdminServiceMethodDescriptorSupplier(java.lang.String methodName) {
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
      synchronized (AdminServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new AdminServiceFileDescriptorSupplier())
              .addMethod(getCreateUserMethod())
              .addMethod(getListUsersMethod())
              .addMethod(getSetUserDisabledMethod())
              .addMethod(getSetRoleMethod())
              .addMethod(getSetPasswordMethod())
              .addMethod(getBeginTotpEnrollmentMethod())
              .addMethod(getConfirmTotpEnrollmentMethod())
              .addMethod(getRemoveTotpMethod())
              .addMethod(getListTokensMethod())
              .addMethod(getGetTokenMethod())
              .addMethod(getListAuditEventsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
