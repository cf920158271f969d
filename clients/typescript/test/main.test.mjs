// One process for every suite, so the real server starts once (node --test would give each file a
// process, and each its own PostgreSQL).
import { after } from "node:test";
import { removeScratch, stopAll } from "./support.mjs";
import "./units.mjs";
import "./client.mjs";
import "./transport.mjs";
import "./h2.mjs";
import "./token-source.mjs";
import "./watch.mjs";
import "./guard.mjs";
import "./tracing.mjs";
import "./failover.mjs";
import "./readme.mjs";

after(async () => {
  await stopAll();
  removeScratch();
});
