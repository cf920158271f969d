package io.github.tesseraauth.client;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real Tessera server the tests run against: {@code $TESSERA_BIN dev} (an embedded PostgreSQL,
 * migrations, a bootstrapped admin and service token) on a free loopback port, started once for the
 * whole run and stopped when the JVM exits. A missing binary fails every test; nothing skips.
 */
final class Dev {
  static final String ALICE_PASSWORD = "alice-password-1";
  static final Duration READY_TIMEOUT = Duration.ofMinutes(3);

  final Path dir;
  final Process process;
  final String grpcAddr;
  final String databaseUrl;
  final String adminUsername;
  final String adminPassword;
  final String adminToken;
  final String serviceToken;

  private static Dev shared;
  private static RuntimeException sharedError;
  private static Path scratch;

  private Dev(Path dir, Process process, Map<String, String> ready) {
    this.dir = dir;
    this.process = process;
    this.grpcAddr = ready.get("grpc_addr");
    this.databaseUrl = ready.get("database_url");
    this.adminUsername = ready.get("admin_username");
    this.adminPassword = ready.get("admin_password");
    this.adminToken = ready.get("admin_token");
    this.serviceToken = ready.get("service_token");
  }

  // The start's failure is kept so every later test fails with it rather than starting again.
  @SuppressWarnings("StaticAssignmentOfThrowable")
  static synchronized Dev shared() {
    if (sharedError != null) {
      throw sharedError;
    }
    if (shared == null) {
      try {
        shared =
            start(
                "shared",
                Map.of(
                    "TESSERA_BOOTSTRAP_ACCOUNTS_JSON",
                    "[{\"username\":\"alice\",\"password\":\""
                        + ALICE_PASSWORD
                        + "\",\"role\":\"user\",\"display_name\":\"Alice\"}]",
                    "TESSERA_SESSION_TTL",
                    "30d"));
      } catch (RuntimeException e) {
        sharedError = e;
        throw e;
      }
    }
    return shared;
  }

  static String bin() {
    String bin = System.getenv("TESSERA_BIN");
    if (bin == null || bin.isEmpty()) {
      throw new IllegalStateException("TESSERA_BIN is not set (clients/java/run-tests.sh sets it)");
    }
    if (!Files.isExecutable(Path.of(bin))) {
      throw new IllegalStateException("TESSERA_BIN " + bin + " is not an executable file");
    }
    return bin;
  }

  /** Every process the tests started; stopped, then the scratch directory removed, at JVM exit. */
  private static final List<Process> STARTED = new ArrayList<>();

  static synchronized Path scratch() {
    if (scratch == null) {
      try {
        scratch = Files.createTempDirectory("tessera-java-test-");
        // PostgreSQL runs as an unprivileged account when the tests run as root: it must reach in.
        Files.setPosixFilePermissions(scratch, PosixFilePermissions.fromString("rwxr-xr-x"));
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      Path dir = scratch;
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    List<Process> processes;
                    synchronized (Dev.class) {
                      processes = new ArrayList<>(STARTED);
                    }
                    processes.forEach(Dev::stop);
                    try (var paths = Files.walk(dir)) {
                      paths
                          .sorted(java.util.Comparator.reverseOrder())
                          .forEach(p -> p.toFile().delete());
                    } catch (IOException e) {
                      // best effort: a temporary directory
                    }
                  }));
    }
    return scratch;
  }

  private static synchronized void started(Process process) {
    STARTED.add(process);
  }

  /** The environment without a developer's own TESSERA_* settings, plus {@code extra}. */
  static void environment(ProcessBuilder pb, Map<String, String> extra) {
    pb.environment()
        .keySet()
        .removeIf(k -> k.startsWith("TESSERA_") && !k.equals("TESSERA_PG_BIN"));
    pb.environment().putAll(extra);
  }

  static Dev start(String name, Map<String, String> env) {
    try {
      Path dir = scratch().resolve(name);
      Files.createDirectory(dir);
      Path log = dir.resolve("server.log");
      Path readyFile = dir.resolve("ready.json");
      ProcessBuilder pb =
          new ProcessBuilder(
              bin(),
              "dev",
              "--data-dir",
              dir.resolve("data").toString(),
              "--listen",
              "127.0.0.1:0",
              "--ready-file",
              readyFile.toString());
      environment(pb, env);
      pb.redirectErrorStream(true).redirectOutput(log.toFile());
      Process process = pb.start();
      started(process);
      Instant deadline = Instant.now().plus(READY_TIMEOUT);
      while (true) {
        if (Files.exists(readyFile)) {
          // The server writes the file atomically (temp file, then rename): no partial reads.
          return new Dev(dir, process, flatJson(Files.readString(readyFile)));
        }
        if (!process.isAlive()) {
          throw new IllegalStateException("tessera dev exited before it was ready:\n" + tail(log));
        }
        if (Instant.now().isAfter(deadline)) {
          stop(process);
          throw new IllegalStateException(
              "tessera dev not ready within " + READY_TIMEOUT + ":\n" + tail(log));
        }
        Thread.sleep(50);
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  static void stop(Process process) {
    process.destroy();
    try {
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** The string and number fields of a flat JSON object (the ready file has no nesting). */
  static Map<String, String> flatJson(String json) {
    Map<String, String> out = new java.util.HashMap<>();
    Matcher m =
        Pattern.compile("\"([a-z_]+)\"\\s*:\\s*(?:\"((?:[^\"\\\\]|\\\\.)*)\"|(-?[0-9]+))")
            .matcher(json);
    while (m.find()) {
      out.put(
          m.group(1),
          m.group(2) != null ? m.group(2).replace("\\/", "/").replace("\\\"", "\"") : m.group(3));
    }
    return out;
  }

  String totpKey() {
    try {
      return Files.readString(dir.resolve("data").resolve("totp.key")).strip();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  TesseraClient client(String token) {
    return TesseraClient.builder("http://" + grpcAddr)
        .token(token)
        .defaultTimeout(Duration.ofSeconds(20))
        .build();
  }

  /** One {@code tessera serve} over TLS on this server's database. */
  Replica replica(Pki pki, String name, String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                bin(),
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--skip-migrations",
                "--tls-cert",
                pki.serverCert,
                "--tls-key",
                pki.serverKey));
    args.addAll(List.of(extra));
    try {
      Path log = Files.createTempFile(scratch(), name, ".log");
      ProcessBuilder pb = new ProcessBuilder(args);
      environment(
          pb,
          Map.of(
              "TESSERA_DATABASE_URL",
              databaseUrl,
              "TESSERA_TOTP_KEY",
              totpKey(),
              "TESSERA_LOG",
              "info"));
      pb.redirectErrorStream(true).redirectOutput(log.toFile());
      Process process = pb.start();
      started(process);
      Instant deadline = Instant.now().plus(READY_TIMEOUT);
      Pattern serving =
          Pattern.compile(
              "\"message\":\"tessera serving gRPC\".*?\"addr\":\"([^\"]+)\"|\"addr\":\"([^\"]+)\".*?\"message\":\"tessera serving gRPC\"");
      while (true) {
        for (String line : Files.readAllLines(log)) {
          Matcher m = serving.matcher(line);
          if (m.find()) {
            return new Replica(process, m.group(1) != null ? m.group(1) : m.group(2));
          }
        }
        if (!process.isAlive()) {
          throw new IllegalStateException("tessera serve exited before serving:\n" + tail(log));
        }
        if (Instant.now().isAfter(deadline)) {
          process.destroyForcibly();
          throw new IllegalStateException("tessera serve not serving in time:\n" + tail(log));
        }
        Thread.sleep(50);
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  record Replica(Process process, String addr) implements AutoCloseable {
    @Override
    public void close() {
      process.destroyForcibly();
    }
  }

  /**
   * PEM files made with openssl: a server CA and its certificate for 127.0.0.1, a client CA and its
   * certificate.
   */
  record Pki(
      String ca,
      String serverCert,
      String serverKey,
      String clientCa,
      String clientCert,
      String clientKey) {
    static synchronized Pki make() {
      Path dir = scratch().resolve("pki");
      if (Files.exists(dir.resolve("client.pem"))) {
        return at(dir);
      }
      try {
        Files.createDirectories(dir);
        Path ext = dir.resolve("san.ext");
        Files.writeString(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        for (String ca : List.of("server-ca", "client-ca")) {
          openssl(
              dir,
              "req",
              "-x509",
              "-newkey",
              "ec",
              "-pkeyopt",
              "ec_paramgen_curve:P-256",
              "-nodes",
              "-keyout",
              ca + ".key",
              "-out",
              ca + ".pem",
              "-days",
              "2",
              "-subj",
              "/CN=java test " + ca);
        }
        for (String[] leaf :
            List.of(new String[] {"server", "server-ca"}, new String[] {"client", "client-ca"})) {
          openssl(
              dir,
              "req",
              "-newkey",
              "ec",
              "-pkeyopt",
              "ec_paramgen_curve:P-256",
              "-nodes",
              "-keyout",
              leaf[0] + ".key",
              "-out",
              leaf[0] + ".csr",
              "-subj",
              "/CN=tessera " + leaf[0]);
          openssl(
              dir,
              "x509",
              "-req",
              "-in",
              leaf[0] + ".csr",
              "-CA",
              leaf[1] + ".pem",
              "-CAkey",
              leaf[1] + ".key",
              "-CAcreateserial",
              "-out",
              leaf[0] + ".pem",
              "-days",
              "2",
              "-extfile",
              "san.ext");
        }
        return at(dir);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }

    private static Pki at(Path dir) {
      return new Pki(
          dir.resolve("server-ca.pem").toString(),
          dir.resolve("server.pem").toString(),
          dir.resolve("server.key").toString(),
          dir.resolve("client-ca.pem").toString(),
          dir.resolve("client.pem").toString(),
          dir.resolve("client.key").toString());
    }

    private static void openssl(Path dir, String... args) throws IOException {
      List<String> cmd = new ArrayList<>(List.of("openssl"));
      cmd.addAll(List.of(args));
      Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      try {
        if (p.waitFor() != 0) {
          throw new IllegalStateException("openssl " + String.join(" ", args) + ": " + out);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
  }

  /** RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret. */
  static String totp(String base32, Instant at) {
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    java.io.ByteArrayOutputStream key = new java.io.ByteArrayOutputStream();
    int buffer = 0;
    int bits = 0;
    for (char c : base32.toUpperCase(java.util.Locale.ROOT).replace("=", "").toCharArray()) {
      buffer = (buffer << 5) | alphabet.indexOf(c);
      bits += 5;
      if (bits >= 8) {
        key.write((buffer >> (bits - 8)) & 0xff);
        bits -= 8;
      }
    }
    try {
      javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA1");
      mac.init(new javax.crypto.spec.SecretKeySpec(key.toByteArray(), "HmacSHA1"));
      byte[] h =
          mac.doFinal(java.nio.ByteBuffer.allocate(8).putLong(at.getEpochSecond() / 30).array());
      int o = h[h.length - 1] & 0xf;
      int code =
          ((h[o] & 0x7f) << 24
                  | (h[o + 1] & 0xff) << 16
                  | (h[o + 2] & 0xff) << 8
                  | (h[o + 3] & 0xff))
              % 1_000_000;
      return String.format("%06d", code);
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Asserts {@code call} fails with {@code reason} (and its table code); returns the error. */
  static TesseraException fails(Reason reason, Runnable call) {
    try {
      call.run();
    } catch (TesseraException e) {
      if (e.reason() != reason || e.code() != reason.code()) {
        throw new AssertionError(
            "want "
                + reason
                + " ("
                + reason.code()
                + "), got reason "
                + e.reason()
                + " code "
                + e.code()
                + ": "
                + e.getMessage(),
            e);
      }
      return e;
    }
    throw new AssertionError("want " + reason + ", the call succeeded");
  }
}
