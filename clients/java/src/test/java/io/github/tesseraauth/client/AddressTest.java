package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class AddressTest {
  @Test
  void acceptsTheThreeFormsWithTheRustClientsMeaning() {
    ServerAddress bare = ServerAddress.parse("127.0.0.1:50051");
    assertEquals("127.0.0.1:50051", bare.authority());
    assertEquals(
        null,
        bare.tls(),
        "a bare host:port is plaintext unless TLS is configured, as in Rust and Python");
    assertEquals(false, ServerAddress.parse("http://localhost:50051/").tls());
    assertEquals(true, ServerAddress.parse("https://auth.example.com:443").tls());
    assertEquals("[::1]:50051", ServerAddress.parse("[::1]:50051").authority());
    assertEquals(" x", " x", "sanity");
  }

  @Test
  void refusesMalformedAddressesWhenTheClientIsBuilt() {
    for (String bad :
        List.of(
            "",
            "h",
            "http://h",
            "http://h:1/path",
            "grpc://h:1",
            "http://user@h:1",
            "h:0",
            "h:65536",
            "h:x",
            ":50051",
            "::1:50051",
            "h:1?x")) {
      TesseraException e =
          assertThrows(TesseraException.class, () -> TesseraClient.builder(bad).build(), bad);
      assertEquals(Reason.INVALID_ARGUMENT, e.reason(), bad);
      assertEquals("addr", e.field(), bad);
      assertTrue(e.getMessage().contains("http://127.0.0.1:50051"), e.getMessage());
    }
    assertThrows(TesseraException.class, () -> TesseraClient.builder(List.of()).build());
    TesseraException mixed =
        assertThrows(
            TesseraException.class,
            () -> TesseraClient.builder(List.of("https://h:1", "http://h:2")).build());
    assertEquals("addr", mixed.field());
    assertThrows(TesseraException.class, () -> TesseraClient.builder("http://h:1").tls().build());
    assertThrows(
        TesseraException.class,
        () -> TesseraClient.builder("h:1").tlsFiles(null, "cert.pem", null));
    assertThrows(
        TesseraException.class, () -> TesseraClient.builder("h:1").defaultTimeout(Duration.ZERO));
  }

  @Test
  void ttlsUseTheServersGrammar() {
    assertEquals("1h30m15s", Convert.ttl(Duration.ofMinutes(90).plusSeconds(15)));
    assertEquals("1w1d", Convert.ttl(Duration.ofDays(8)));
    assertEquals("", Convert.ttl(null));
    assertEquals(
        "ttl",
        assertThrows(TesseraException.class, () -> Convert.ttl(Duration.ofMillis(10))).field());
  }
}
