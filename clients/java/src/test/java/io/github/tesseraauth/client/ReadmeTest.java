package io.github.tesseraauth.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Runs the README's quick start program, word for word, against the dev server. */
class ReadmeTest {
  @Test
  void quickStartRunsAsWritten() throws Exception {
    Dev dev = Dev.shared();
    String readme = Files.readString(Path.of("README.md"));
    int from = readme.indexOf("## Quick start");
    assertTrue(from >= 0, "README.md has no Quick start");
    int start = readme.indexOf("```java\n", from) + "```java\n".length();
    String program = readme.substring(start, readme.indexOf("\n```", start) + 1);
    Path dir = Files.createTempDirectory(Dev.scratch(), "quickstart");
    Path source = dir.resolve("QuickStart.java");
    Files.writeString(source, program);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb =
        new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), source.toString())
            .redirectErrorStream(true);
    pb.environment().put("TESSERA_ADDR", "http://" + dev.grpcAddr);
    pb.environment().put("TESSERA_ADMIN_PASSWORD", dev.adminPassword);
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(2, TimeUnit.MINUTES));
    assertEquals(0, p.exitValue(), out);
    for (String want :
        List.of(
            "wrong password: true",
            "active: true namespace: deploy.",
            "accounts:",
            "unknown user: true")) {
      assertTrue(out.contains(want), "output lacks " + want + ":\n" + out);
    }
  }
}
