package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.grpc.Status;
import java.nio.channels.ClosedChannelException;
import org.junit.jupiter.api.Test;

class ErrorsTest {
  @Test
  void everyReasonSurvivesTheWireWithItsCodeAndField() {
    for (Reason reason : Reason.values()) {
      TesseraException e =
          TesseraException.from(TesseraException.statusWithReason(reason, "token", "m"));
      assertEquals(reason, e.reason());
      assertEquals(reason.code(), e.code());
      assertEquals("token", e.field());
      assertEquals(reason, Reason.fromWire(reason.wire()));
    }
  }

  @Test
  void failuresWithoutAReasonAreJudgedByTheirCode() {
    TesseraException plain =
        TesseraException.from(
            Status.PERMISSION_DENIED.withDescription("proxy").asRuntimeException());
    assertNull(plain.reason());
    assertEquals(Reason.AUTH_DENIED, plain.kind());
    // A connection that broke mid-call, as grpc-java reports a killed TLS peer: a transport
    // failure.
    TesseraException broken =
        TesseraException.from(
            Status.UNKNOWN
                .withDescription("channel closed")
                .withCause(new ClosedChannelException())
                .asRuntimeException());
    assertEquals(Status.Code.UNAVAILABLE, broken.code());
    assertEquals(Reason.UNAVAILABLE, broken.kind());
    assertEquals(
        Reason.INTERNAL, TesseraException.from(Status.UNKNOWN.asRuntimeException()).kind());
    assertNull(TesseraException.from(Status.NOT_FOUND.asRuntimeException()).kind());
  }
}
