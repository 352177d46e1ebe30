/**
 * Retention: finished runs disappear with their steps and payloads once their
 * namespace's retention has passed; running, sleeping and pending runs, longer-kept
 * namespaces and schedules stay; the workflow_id can be started again.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  type Context,
  Kagzi,
  KagziError,
  NonRetryableError,
  Worker,
  type WorkflowFn,
} from "@kagzi/sdk";
import { startEmbedded } from "../server/store/embedded.ts";
import { retentionPass } from "../server/engine/retention.ts";
import { type Db } from "../server/store/db.ts";
import { deleteExpiredRunsSql, perRunTables } from "../server/store/retention.ts";
import { backends } from "./_db.ts";
import { openStore } from "./_store.ts";
import { startTestServer, type TestServer } from "./_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const value = await fn();
    if (value !== undefined) return value;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const notFound = (client: Kagzi, runId: string) =>
  client.get(runId).then(
    () => false,
    (e) => e instanceof KagziError && e.code === "NOT_FOUND",
  );

/** Rows per table for each run id, read from the database once the server has stopped. */
async function rowsByRun(server: TestServer, runIds: string[]) {
  const query = async (sql: postgres.Sql) => {
    const out: Record<string, Record<string, number>> = {};
    for (const table of ["kagzi_runs", "kagzi_steps", "kagzi_payloads"]) {
      const rows = await sql.unsafe(
        `select run_id::text as id, count(*)::int as n from ${table}
         where run_id = any($1::uuid[]) group by run_id`,
        [runIds],
      );
      out[table] = Object.fromEntries(rows.map((r) => [r.id, r.n]));
    }
    return out;
  };
  if (server.backend === "postgres") {
    const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      return await query(sql);
    } finally {
      await sql.end();
    }
  }
  const db = await startEmbedded({ dataDir: server.dataDir });
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    return await query(sql);
  } finally {
    await sql.end();
    await db.close();
  }
}

for (const backend of await backends()) {
  Deno.test(`finished runs are deleted after the retention, nothing else is (${backend})`, async () => {
    await using server = await startTestServer(backend, {
      args: [
        ...["--retention", "1s", "--retention-namespaces", "keep=1h"],
        ...["--tick-interval-ms", "200", "--heartbeat-interval-ms", "300"],
      ],
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const flows: Record<string, WorkflowFn> = {
      quick: async (ctx: Context, n: number) => {
        const a = await ctx.step("a").run(() => n + 1);
        return await ctx.step("b").run(() => a * 2);
      },
      fails: async (ctx: Context) => {
        await ctx.step("a").run(() => 1);
        throw new NonRetryableError("on purpose");
      },
      sleeper: async (ctx: Context) => {
        await ctx.step("before").run(() => 1);
        await ctx.sleep("long", "1h");
      },
      blocked: async (ctx: Context) => {
        await ctx.step("a").run(() => 1);
        await ctx.step("b").run(() => gate);
      },
    };
    const worker = await Worker.builder(server.url).workflows(flows).build();
    const keepWorker = await Worker.builder(server.url).namespace("keep").workflows(flows).build();
    const running = [worker.run(), keepWorker.run()];
    const client = await Kagzi.connect(server.url);
    try {
      const quick = [];
      for (const id of ["q-1", "q-2", "q-3"]) {
        quick.push(await client.start("quick").id(id).input(1));
      }
      for (const run of quick) assert.equal(await run.result({ timeout: "20s" }), 4);
      const failed = await client.start("fails");
      await assert.rejects(failed.result({ timeout: "20s" }), /on purpose/);
      const cancelled = await client.start("nobody-runs-this");
      await client.cancel(cancelled.id);
      const pending = await client.start("nobody-runs-this").id("pending-1");
      const sleeping = await client.start("sleeper");
      const busy = await client.start("blocked");
      const kept = await client.start("quick").namespace("keep").input(5);
      assert.equal(await kept.result({ timeout: "20s" }), 12);
      await client.schedule("yearly").workflow("nobody-runs-this").cron("0 0 1 1 *");
      const finished = [...quick.map((r) => r.id), failed.id, cancelled.id];
      const unfinished = [pending.id, sleeping.id, busy.id];
      await eventually(
        "sleeper asleep, blocked running",
        async () =>
          (await client.get(sleeping.id)).status === "SLEEPING" &&
            (await client.get(busy.id)).status === "RUNNING"
            ? true
            : undefined,
      );

      await eventually("the finished runs to be deleted", async () => {
        for (const id of finished) if (!(await notFound(client, id))) return undefined;
        return true;
      });
      // A second later: everything else is still there, as it was.
      await sleep(1_500);
      assert.equal((await client.get(pending.id)).status, "PENDING");
      assert.equal((await client.get(sleeping.id)).status, "SLEEPING");
      assert.equal((await client.get(busy.id)).status, "RUNNING");
      assert.ok((await client.listSteps(sleeping.id)).length >= 2, "the sleeper keeps its steps");
      assert.ok((await client.listSteps(busy.id)).length >= 1, "the busy run keeps its steps");
      const keptNow = await client.get(kept.id).namespace("keep");
      assert.equal(keptNow.status, "COMPLETED", "namespace keep keeps runs for 1h");
      assert.equal(keptNow.output, 12);
      assert.equal((await client.getSchedule("yearly")).cron, "0 0 1 1 *");

      // The workflow_id of a deleted run starts a new run.
      const again = await client.start("quick").id("q-1").input(2);
      assert.equal(again.alreadyExists, false);
      assert.notEqual(again.id, quick[0].id);
      assert.equal(await again.result({ timeout: "20s" }), 6);

      release();
      await worker.shutdown();
      await keepWorker.shutdown();
      await Promise.all(running);
      await server.stop();
      const rows = await rowsByRun(server, [...finished, ...unfinished, kept.id]);
      for (const id of finished) {
        for (const table of ["kagzi_runs", "kagzi_steps", "kagzi_payloads"]) {
          assert.equal(rows[table][id], undefined, `no ${table} row of deleted run ${id}`);
        }
      }
      for (const id of [sleeping.id, kept.id]) {
        assert.ok(rows.kagzi_steps[id] >= 1 && rows.kagzi_payloads[id] >= 1, `${id} kept`);
      }
      assert.equal(rows.kagzi_runs[pending.id], 1);
    } finally {
      release();
      await worker.shutdown();
      await keepWorker.shutdown();
      await Promise.all(running);
    }
  });

  Deno.test(`a retention pass deletes a backlog in batches through its index (${backend})`, async () => {
    await using db = await openStore(backend);
    const sql = (text: string) => db.execute(text);
    // 1,234 runs finished 2 h ago with 2 steps and an input each; 10 running; 5 finished just now.
    await sql(`
      insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, finished_at)
      select case when i % 2 = 0 then 'a' else 'b' end, gen_random_uuid(), 'old-' || i, 't',
             (array['COMPLETED', 'FAILED', 'CANCELLED'])[1 + i % 3], now() - interval '2 hours'
      from generate_series(1, 1234) i;
      insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, started_at)
      select 'a', gen_random_uuid(), 'live-' || i, 't', 'RUNNING', now() - interval '3 hours'
      from generate_series(1, 10) i;
      insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, finished_at)
      select 'a', gen_random_uuid(), 'new-' || i, 't', 'COMPLETED', now()
      from generate_series(1, 5) i;
      insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status)
      select r.namespace_id, r.run_id, 'FUNCTION', s.name, 1, 1, 'COMPLETED'
      from kagzi_runs r cross join (values ('x'), ('y')) s(name);
      insert into kagzi_superseded_steps (namespace_id, run_id, kind, name, occurrence, attempt,
                                          status)
      select namespace_id, run_id, kind, name || '-old', occurrence, attempt, status
      from kagzi_steps;
      insert into kagzi_payloads (namespace_id, run_id, kind, data)
      select namespace_id, run_id, 'input', '\\x00' from kagzi_runs;
      insert into kagzi_signals (namespace_id, run_id, signal_id, name)
      select namespace_id, run_id, gen_random_uuid(), 'go' from kagzi_runs;
      insert into kagzi_stream_entries (namespace_id, run_id, name, stream_offset, data)
      select namespace_id, run_id, 'progress', 0, '\\x7b7d' from kagzi_runs;
    `);
    const count = async (table: string) =>
      (await db.query<{ n: number }>(`select count(*)::int as n from ${table}`))[0].n;
    // Every per-run table was seeded, so each one's deletion is checked below.
    for (const table of perRunTables) assert.ok(await count(table) >= 1249, table);

    // The real database, with each retention DELETE statement's result recorded on its way back.
    const batches: number[] = [];
    const watched: Db = Object.create(db, {
      query: {
        value: async <T>(text: string, params?: readonly unknown[]): Promise<T[]> => {
          const rows = await db.query<T>(text, params);
          if (text === deleteExpiredRunsSql) {
            batches.push((rows[0] as { deleted: number }).deleted);
          }
          return rows;
        },
      },
    });

    // Namespace b keeps its runs for 3 h: only a's 617 old runs are due.
    const options = { defaultMs: 3_600_000, byNamespace: { b: 3 * 3_600_000 }, batchSize: 100 };
    const left = (n: number) => ({ runs: n, steps: 2 * n, payloads: n, signals: n, streams: n });
    const counts = async () => ({
      runs: await count("kagzi_runs"),
      steps: await count("kagzi_steps"),
      payloads: await count("kagzi_payloads"),
      signals: await count("kagzi_signals"),
      streams: await count("kagzi_stream_entries"),
    });
    assert.equal(await retentionPass(watched, options), 617);
    // 617 runs in statements of at most 100: six full batches and a last one of 17.
    assert.deepEqual(batches, [100, 100, 100, 100, 100, 100, 17]);
    assert.deepEqual(await counts(), left(1234 - 617 + 15));
    batches.length = 0;
    assert.equal(await retentionPass(watched, options), 0, "nothing left to delete");
    assert.deepEqual(batches, [], "no statement when no namespace has an expired run");
    assert.equal(await retentionPass(db, { ...options, byNamespace: { b: 0 } }), 0, "b: never");
    assert.equal(await retentionPass(db, { ...options, byNamespace: {} }), 617);
    assert.deepEqual(await counts(), left(15));

    // The sweep's own statement finds its rows through kagzi_runs_finished, never by scanning
    // kagzi_runs (with sequential scans off, a plan without the index would show a Seq Scan).
    const plan = await db.transaction(async (tx) => {
      await tx.query("set local enable_seqscan = off");
      const rows = await tx.query<{ "QUERY PLAN": string }>(
        `explain ${deleteExpiredRunsSql}`,
        ["a", 3_600_000, 100],
      );
      return rows.map((x) => x["QUERY PLAN"]).join("\n");
    });
    assert.match(plan, /kagzi_runs_finished/, plan);
    assert.doesNotMatch(plan, /Seq Scan on kagzi_runs/, plan);
  });
}
