/**
 * A heartbeat in flight while its runs complete: the server no longer holds their leases and
 * says so, and the worker must not take that as a lost lease (a warning per run that ended
 * well, and the execution "stopped" after it finished). Seen as 26–50 "lost its lease"
 * warnings in every in-process benchmark warm-up before the fix.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, type Logger, Worker } from "@kagzi/sdk";
import { createServer, loadConfig } from "../server/mod.ts";
import { backends, freshDatabase } from "./_db.ts";
import { migratedDataDir } from "./_pgdata.ts";

async function quick(ctx: Context, input: { i: number }) {
  return await ctx.step("one").run(() => ({ i: input.i }));
}

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`runs that end while a heartbeat is in flight are not reported as lost (${backend})`, async () => {
  await using db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await migratedDataDir("kagzi_hb_race_");
  const server = await createServer(loadConfig({
    ...(db ? { DATABASE_URL: db.url } : { KAGZI_DATA_DIR: dataDir }),
    KAGZI_LOG_LEVEL: "warn",
    // Short, so many heartbeats overlap many completions (not the shortest: a worker silent for
    // 1.5 intervals after a cut-off poll is taken for dead, which a loaded CI machine can be).
    KAGZI_HEARTBEAT_INTERVAL_MS: "400",
  }));
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (msg) => void warnings.push(msg),
    error: (msg) => void warnings.push(msg),
  };
  const worker = await Worker.builder(server).maxConcurrent(50).logger(logger)
    .workflows({ quick }).build();
  const running = worker.run();
  try {
    const client = await Kagzi.connect(server);
    const heartbeats = () => worker.stats.rpcs.heartbeat ?? 0;
    const before = heartbeats();
    // Runs in waves until heartbeats have been in flight beside completions many times.
    let n = 0;
    while (heartbeats() - before < 8 && n < 20_000) {
      const wave = await Promise.all(
        Array.from(
          { length: 200 },
          (_, k) => client.start<{ i: number }>("quick").input({ i: n + k }),
        ),
      );
      const outputs = await Promise.all(wave.map((r) => r.result()));
      outputs.forEach((o, k) => assert.deepEqual(o, { i: n + k }));
      n += wave.length;
    }
    assert.ok(heartbeats() - before >= 8, `only ${heartbeats() - before} heartbeats`);
    assert.deepEqual(warnings.filter((w) => /lost its lease|released/.test(w)), []);
  } finally {
    await worker.shutdown();
    await running;
    await server.close();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
});
