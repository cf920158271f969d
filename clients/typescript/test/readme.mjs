import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dev } from "./support.mjs";

// Runs the README's quick start, word for word, against the dev server. The block is TypeScript
// without type annotations, so node runs it as an ES module; written inside the package, its
// `import "tessera-auth-client"` resolves to this checkout.
test("the README quick start runs as written", async () => {
  const server = await dev();
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const from = readme.indexOf("## Quick start");
  assert.ok(from >= 0, "README.md has no Quick start");
  const start = readme.indexOf("```ts\n", from) + "```ts\n".length;
  const program = readme.slice(start, readme.indexOf("\n```", start) + 1);
  const file = new URL(`./quickstart-${process.pid}.mjs`, import.meta.url);
  writeFileSync(file, program);
  try {
    const out = execFileSync(process.execPath, [file.pathname], {
      env: { ...process.env, TESSERA_ADDR: `http://${server.grpc_addr}`, TESSERA_ADMIN_PASSWORD: server.admin_password },
      encoding: "utf8",
      timeout: 120_000,
    });
    for (const want of ["wrong password: true", "active: true namespace: deploy.", "accounts:", "unknown user: true"]) {
      assert.ok(out.includes(want), `output lacks ${want}:\n${out}`);
    }
  } finally {
    rmSync(file, { force: true });
  }
});
