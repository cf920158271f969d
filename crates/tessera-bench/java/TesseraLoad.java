// Drives a Tessera server from Java through the clients/java TesseraClient (grpc-java, one
// channel), the way a JVM service calls it; tessera-bench runs it to put a Java row beside the
// tonic, grpc-go and Python rows. The same phases and JSON lines as
// crates/tessera-bench/python/tessera_load.py: the named calls alternate in rounds, each for one
// phase per round with the same concurrency (threads making blocking calls) on one channel.
// With --sequential N it instead makes N calls one after another per named call and reports their
// latency quantiles, as clients/go/cmd/tessera-load does. With --sequential N --interleave it
// prints `ready` once warmed up, then measures one round of N calls per line read from standard
// input (at most --rounds), so that the caller can measure its own client between them.
//
//   java -cp "$(cat classpath.txt):clients/java/target/classes" crates/tessera-bench/java/TesseraLoad.java \
//       --addr 127.0.0.1:50051 --caller tsr_svc_… --target tsr_api_… \
//       --calls check,introspect,checknamespace --rounds 5 --phase 2 --concurrency 16

import io.github.tesseraauth.client.TesseraClient;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.stub.ClientCalls;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

public final class TesseraLoad {
  /** grpc.health.v1.Health/Check with an empty request: raw bytes, no health package needed. */
  static final MethodDescriptor<byte[], byte[]> HEALTH_CHECK = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName("grpc.health.v1.Health/Check")
      .setRequestMarshaller(new Raw())
      .setResponseMarshaller(new Raw())
      .build();

  static final class Raw implements MethodDescriptor.Marshaller<byte[]> {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** Sequential calls per round of the warm-up before a sequential measurement. */
  static final int SEQUENTIAL_WARMUP = 2000;

  /** A warm-up round with at most this much compilation (ms, all compiler threads) ends it. */
  static final long QUIET_COMPILATION_MILLIS = 20;

  /** The longest warm-up before a sequential measurement. */
  static final long WARMUP_LIMIT_NANOS = TimeUnit.SECONDS.toNanos(15);

  interface Call {
    void run() throws Exception;
  }

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>(Map.of("calls", "check,introspect,checknamespace", "ids", "10",
        "rounds", "5", "phase", "2", "concurrency", "16", "sequential", "0"));
    for (int i = 0; i < argv.length; i++) {
      String key = argv[i].replaceFirst("^--?", "");
      if (key.equals("interleave")) {
        args.put(key, "true");
      } else if (i + 1 < argv.length) {
        args.put(key, argv[++i]);
      }
    }
    if (!args.containsKey("addr") || !args.containsKey("caller") || !args.containsKey("target")) {
      System.err.println("TesseraLoad: --addr, --caller and --target are required");
      System.exit(2);
    }
    String target = args.get("target");
    List<String> identifiers = new ArrayList<>();
    for (int i = 0; i < Integer.parseInt(args.get("ids")); i++) {
      identifiers.add(i % 2 == 0 ? "deploy.job" + i : "backup.job" + i);
    }
    try (TesseraClient client = TesseraClient.builder(args.get("addr")).token(args.get("caller"))
        .defaultTimeout(Duration.ofSeconds(10)).build()) {
      Map<String, Call> calls = new HashMap<>();
      calls.put("check", () -> ClientCalls.blockingUnaryCall(client.channel(), HEALTH_CHECK,
          CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), new byte[0]));
      calls.put("introspect", () -> {
        if (!client.introspect(target).active()) {
          throw new IllegalStateException("target token inactive");
        }
      });
      calls.put("checknamespace", () -> client.checkNamespace(target, identifiers, "read"));
      List<String> names = Arrays.stream(args.get("calls").split(",")).filter(s -> !s.isEmpty()).toList();
      for (String name : names) {
        if (!calls.containsKey(name)) {
          System.err.println("TesseraLoad: unknown call " + name);
          System.exit(2);
        }
      }
      int sequential = Integer.parseInt(args.get("sequential"));
      double seconds = Double.parseDouble(args.get("phase"));
      int concurrency = Integer.parseInt(args.get("concurrency"));
      if (sequential > 0) {
        boolean interleave = args.containsKey("interleave");
        BufferedReader input = interleave ? new BufferedReader(new InputStreamReader(System.in)) : null;
        for (String name : names) {
          warmUp(name, calls.get(name), concurrency);
          if (!interleave) {
            System.out.println(phase(name, calls.get(name), 0, 1, 0, sequential));
            continue;
          }
          // Warmed up: one round per line the caller writes, until its end.
          System.out.println("ready");
          System.out.flush();
          int rounds = Integer.parseInt(args.get("rounds"));
          for (int round = 0; round < rounds && input.readLine() != null; round++) {
            System.out.println(phase(name, calls.get(name), 0, 1, round, sequential));
            System.out.flush();
          }
        }
        return;
      }
      // Unmeasured warm-up: connections up, caller and target cached, the JIT through the hot path.
      for (String name : names) {
        phase(name, calls.get(name), Math.min(seconds, 0.5), concurrency, -1, 0);
      }
      for (int round = 0; round < Integer.parseInt(args.get("rounds")); round++) {
        for (String name : names) {
          System.out.println(phase(name, calls.get(name), seconds, concurrency, round, 0));
          System.out.flush();
        }
      }
    }
  }

  /**
   * Unmeasured warm-up before a sequential measurement, until the JIT has compiled the call path
   * as in a service that has been running. A fresh JVM reaches its optimising compiler (C2) only
   * after thousands of calls per method (the tier-4 thresholds are 5,000 invocations and 15,000
   * invocations plus loops): after 2,000 sequential calls most of grpc-java's and Netty's path is
   * still C1 code with full profiling, and a sequential Introspect's p50 is about twice the
   * settled one. So: {@code concurrency} threads for a second (the call path's methods counted from
   * every thread), then sequential calls in rounds of {@link #SEQUENTIAL_WARMUP} until a round
   * passes with (almost) no compilation, at most {@link #WARMUP_LIMIT_NANOS} in all.
   */
  static void warmUp(String name, Call call, int concurrency) throws InterruptedException {
    long limit = System.nanoTime() + WARMUP_LIMIT_NANOS;
    phase(name, call, 1.0, concurrency, -1, 0);
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    boolean timed = jit != null && jit.isCompilationTimeMonitoringSupported();
    long compiled = timed ? jit.getTotalCompilationTime() : 0;
    do {
      phase(name, call, 0, 1, -1, SEQUENTIAL_WARMUP);
      long before = compiled;
      compiled = timed ? jit.getTotalCompilationTime() : 0;
      if (compiled - before <= QUIET_COMPILATION_MILLIS) {
        return;
      }
    } while (System.nanoTime() < limit);
  }

  /** One phase: concurrency threads calling until the phase ends (or, sequential, that many calls). */
  static String phase(String name, Call call, double seconds, int concurrency, int round, int count) throws InterruptedException {
    long deadline = System.nanoTime() + (long) (seconds * 1e9);
    List<long[]> perThread = new ArrayList<>();
    AtomicLong errors = new AtomicLong();
    AtomicReference<String> firstError = new AtomicReference<>("");
    List<Thread> threads = new ArrayList<>();
    long begin = System.nanoTime();
    for (int t = 0; t < concurrency; t++) {
      long[][] mine = {new long[1024]};
      int[] n = {0};
      Thread thread = new Thread(() -> {
        while (count > 0 ? n[0] < count : System.nanoTime() < deadline) {
          long start = System.nanoTime();
          try {
            call.run();
          } catch (Exception e) {
            errors.incrementAndGet();
            firstError.compareAndSet("", e.toString());
            if (count > 0) {
              break;
            }
            continue;
          }
          if (n[0] == mine[0].length) {
            mine[0] = Arrays.copyOf(mine[0], n[0] * 2);
          }
          mine[0][n[0]++] = System.nanoTime() - start;
        }
        synchronized (perThread) {
          perThread.add(Arrays.copyOf(mine[0], n[0]));
        }
      });
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) {
      thread.join();
    }
    double elapsed = (System.nanoTime() - begin) / 1e9;
    long[] all = perThread.stream().flatMapToLong(Arrays::stream).sorted().toArray();
    double p50 = all.length == 0 ? 0 : (all.length % 2 == 1 ? all[all.length / 2]
        : (all[all.length / 2 - 1] + all[all.length / 2]) / 2.0) / 1e3;
    double p99 = all.length == 0 ? 0 : all[(int) (all.length * 0.99)] / 1e3;
    StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
        "{\"call\": \"%s\", \"round\": %d, \"calls\": %d, \"errors\": %d, \"seconds\": %.6f, \"per_second\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f",
        name, round, all.length, errors.get(), elapsed, all.length / elapsed, p50, p99));
    if (!firstError.get().isEmpty()) {
      line.append(", \"first_error\": \"").append(firstError.get().replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
    }
    return line.append('}').toString();
  }
}
