package io.github.tesseraauth.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Locale;

/**
 * A failed call to Tessera, or a request this client refused before sending it. Branch on {@link
 * #kind()} (or {@link #reason()} for the server's own word), never on the message.
 */
public final class TesseraException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * The google.rpc.ErrorInfo domain of Tessera's own errors; others (a proxy, a mesh) are ignored.
   */
  static final String DOMAIN = "tessera";

  private final Status.Code code;
  private final transient Reason reason;
  private final String wireReason;
  private final String field;
  private final long oldestSequence;

  TesseraException(
      Status.Code code,
      Reason reason,
      String wireReason,
      String field,
      String message,
      long oldestSequence,
      Throwable cause) {
    super(render(code, wireReason, message), cause);
    this.code = code;
    this.reason = reason;
    this.wireReason = wireReason;
    this.field = field;
    this.oldestSequence = oldestSequence;
  }

  private static String render(Status.Code code, String wireReason, String message) {
    String head = wireReason.isEmpty() ? code.name() : wireReason;
    String text = "tessera: " + head.toLowerCase(Locale.ROOT);
    return message == null || message.isEmpty() ? text : text + ": " + message;
  }

  /** An error shaped like the server's, for a request refused before it was sent. */
  static TesseraException refused(Reason reason, String field, String message) {
    return new TesseraException(reason.code(), reason, reason.wire(), field, message, 0, null);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /**
   * The ErrorInfo reason of domain "tessera", or {@code null} when the failure did not come from
   * Tessera's error table (a transport failure, a proxy) or names a reason this client predates.
   */
  public Reason reason() {
    return reason;
  }

  /** The reason exactly as the server sent it ("" when there was none). */
  public String wireReason() {
    return wireReason;
  }

  /**
   * The reason to branch on: the server's when this client knows it, else one derived from the gRPC
   * code (a transport failure is {@link Reason#UNAVAILABLE}); {@code null} when neither says.
   */
  public Reason kind() {
    return reason != null ? reason : Reason.fromCode(code);
  }

  /** The request field at fault (ErrorInfo metadata "field"), or "". */
  public String field() {
    return field;
  }

  /** With {@link Reason#RESYNC_REQUIRED}: the oldest revocation the server retains; else 0. */
  public long oldestSequence() {
    return oldestSequence;
  }

  /** True for a deadline that ran out (the client's default deadline among them). */
  public boolean isDeadlineExceeded() {
    return code == Status.Code.DEADLINE_EXCEEDED;
  }

  /**
   * Converts the failure of any gRPC call (to Tessera, or to a service a {@link
   * TesseraServerInterceptor} guards) into a TesseraException keyed on its ErrorInfo reason.
   */
  public static TesseraException from(Throwable error) {
    if (error instanceof TesseraException) {
      return (TesseraException) error;
    }
    Status status;
    Metadata trailers;
    if (error instanceof StatusRuntimeException) {
      status = ((StatusRuntimeException) error).getStatus();
      trailers = ((StatusRuntimeException) error).getTrailers();
    } else if (error instanceof StatusException) {
      status = ((StatusException) error).getStatus();
      trailers = ((StatusException) error).getTrailers();
    } else {
      status = Status.fromThrowable(error);
      trailers = Status.trailersFromThrowable(error);
    }
    String wire = "";
    String field = "";
    long oldest = 0;
    com.google.rpc.Status detailed = StatusProto.fromStatusAndTrailers(status, trailers);
    for (Any detail : detailed.getDetailsList()) {
      if (!detail.is(ErrorInfo.class)) {
        continue;
      }
      ErrorInfo info;
      try {
        info = detail.unpack(ErrorInfo.class);
      } catch (InvalidProtocolBufferException e) {
        continue;
      }
      if (!DOMAIN.equals(info.getDomain())) {
        continue;
      }
      wire = info.getReason();
      field = info.getMetadataOrDefault("field", "");
      try {
        oldest = Long.parseUnsignedLong(info.getMetadataOrDefault("oldest_sequence", "0"));
      } catch (NumberFormatException e) {
        oldest = 0;
      }
      break;
    }
    String message = status.getDescription() == null ? "" : status.getDescription();
    Status.Code code = status.getCode();
    if (wire.isEmpty() && code == Status.Code.UNKNOWN && brokenConnection(status.getCause())) {
      // grpc-java reports some connections that broke mid-call (a TLS peer killed) as UNKNOWN
      // "channel closed": a transport failure like any other, so UNAVAILABLE.
      code = Status.Code.UNAVAILABLE;
    }
    return new TesseraException(code, Reason.fromWire(wire), wire, field, message, oldest, error);
  }

  private static boolean brokenConnection(Throwable cause) {
    for (Throwable t = cause; t != null; t = t.getCause()) {
      if (t instanceof java.io.IOException) {
        return true;
      }
    }
    return false;
  }

  /** A status carrying ErrorInfo of domain "tessera", as the guards answer. */
  static StatusRuntimeException statusWithReason(Reason reason, String field, String message) {
    ErrorInfo.Builder info = ErrorInfo.newBuilder().setDomain(DOMAIN).setReason(reason.wire());
    if (field != null && !field.isEmpty()) {
      info.putMetadata("field", field);
    }
    com.google.rpc.Status status =
        com.google.rpc.Status.newBuilder()
            .setCode(reason.code().value())
            .setMessage(message)
            .addDetails(Any.pack(info.build()))
            .build();
    return StatusProto.toStatusRuntimeException(status);
  }
}
