/**
 * Database faults on real processes. Postgres: a private cluster (tests/_private_pg.ts), two
 * server replicas, three workers, 200 runs of a five-step workflow; meanwhile every backend is
 * terminated twice (a failover, a proxy restart), connections are refused for 8 s (stopped),
 * and the cluster is restarted with `-m immediate` (a crash). Embedded: the server is killed
 * with kill -9 twice under load and restarted on its port.
 *
 * Asserts what a caller must be able to trust: every `result()` equals the run's stored
 * outcome (no false failures), nothing is lost or completed twice, every refused call is
 * UNAVAILABLE with a retry delay, health answers within a second, servers never exit.
 * Recovery times (a new run after the database is back) are measured and logged.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Kagzi } from "@kagzi/sdk";
import { privatePostgresAvailable, startPrivatePostgres } from "./_private_pg.ts";
import { type ServerProcess, startServer } from "./_server.ts";
import { startWorker, waitFor, type WorkerProcess } from "./_worker.ts";
import { probe, type Started, startRuns, timeOneRun } from "./_fault_load.ts";
import { migratedDataDir } from "./_pgdata.ts";
import type { KagziError } from "@kagzi/sdk";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = async (p: { status: Promise<unknown> }) =>
  await Promise.race([p.status.then(() => false), sleep(20).then(() => true)]);

/** Every run's result() against what is stored: the run, its status and output. */
async function checkOutcomes(sql: postgres.Sql, started: Started[]): Promise<void> {
  // Every result first: the runs started last may still be running when the load ends, and
  // what is stored is compared once their results are in.
  const outcomes = await Promise.all(started.map((s) => s.outcome));
  const rows = await sql<{ run_id: string; status: string }[]>`
    select run_id::text, status from kagzi_runs
    where workflow_type = 'five-steps' and workflow_id not like 'recovery-%'`;
  const stored = new Map(rows.map((r) => [r.run_id, r.status]));
  assert.equal(rows.length, started.length, "one stored run per start, none lost or doubled");
  const rejected: string[] = [];
  for (const [i, s] of started.entries()) {
    const o = outcomes[i];
    assert.equal(stored.get(s.id), "COMPLETED", `run ${s.id} is stored COMPLETED`);
    if (!o.ok) rejected.push(`${s.id}: ${o.error.code} ${o.error.message}`);
    else assert.deepEqual(o.value, { out: [1, 2, 3, 4, 5], runId: s.id });
  }
  assert.deepEqual(rejected, [], "result() rejected for runs that completed");
}

Deno.test({
  name:
    "database faults (terminate all twice, refuse 8 s, restart -m immediate) under 200 runs on 2 replicas: no false failure, only UNAVAILABLE, health within 1 s, servers stay up",
  ignore: !privatePostgresAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await startPrivatePostgres();
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin.unsafe("create database kagzi");
    await admin.end();
    const dbUrl = pg.url.replace(/\/postgres$/, "/kagzi");
    const args = ["--heartbeat-interval-ms", "500", "--tick-interval-ms", "200"];
    const servers: ServerProcess[] = [];
    const workers: WorkerProcess[] = [];
    try {
      servers.push(await startServer({ databaseUrl: dbUrl, args }));
      servers.push(await startServer({ databaseUrl: dbUrl, args }));
      for (const i of [0, 1, 0]) {
        workers.push(await startWorker(servers[i].url, { types: ["five-steps"] }));
      }
      const clients = await Promise.all(servers.map((s) => Kagzi.connect(s.url)));
      const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
      // Every change of a run to COMPLETED, as Postgres saw it (a test-only trigger).
      await sql.unsafe(`
        create table fault_completions (run_id uuid not null);
        create function fault_audit() returns trigger language plpgsql as $$
          begin insert into fault_completions values (new.run_id); return new; end $$;
        create trigger fault_audit after update of status on kagzi_runs for each row
          when (new.status = 'COMPLETED') execute function fault_audit();`);
      await sql.end();

      const probes = probe(servers.map((s) => s.url));
      const startErrors: KagziError[] = [];
      const load = startRuns(clients, 200, 100, startErrors);
      const recovery: Record<string, number> = {};

      await sleep(2_500);
      console.log(`terminated ${await pg.terminateAll()} backends`);
      await sleep(2_500);
      console.log(`terminated ${await pg.terminateAll()} backends`);
      await sleep(2_000);
      await pg.stop("fast");
      await sleep(8_000);
      await pg.start();
      recovery.afterRefusal = await timeOneRun(clients[0]);
      await sleep(2_000);
      await pg.restartImmediate();
      recovery.afterCrashRestart = await timeOneRun(clients[1]);

      const started = await load;
      for (const p of [...servers, ...workers]) assert.ok(await alive(p), p.output());
      assert.deepEqual(startErrors.map((e) => `${e.code} ${e.message}`), [], "every start got in");
      const report = await probes.stop();
      const check = postgres(dbUrl, { max: 1, onnotice: () => {} });
      try {
        await checkOutcomes(check, started);
        const twice = await check`select run_id from fault_completions
          group by run_id having count(*) > 1`;
        assert.equal(twice.length, 0, "no run completed twice");
      } finally {
        await check.end();
      }
      console.log(
        `db faults: ${started.length} runs, 0 false failures; codes seen without retries ` +
          `${JSON.stringify(report.codes)}; HealthCheck max ${
            Math.round(report.healthMaxMs)
          } ms, ` +
          `/readyz max ${Math.round(report.readyzMaxMs)} ms ${JSON.stringify(report.readyz)}; ` +
          `new run after the database is back: ${JSON.stringify(recovery)} ms`,
      );
      assert.deepEqual(Object.keys(report.codes).filter((c) => c !== "UNAVAILABLE"), []);
      assert.ok((report.codes.UNAVAILABLE ?? 0) > 0, "the outage was seen by callers");
      assert.ok(report.retryAfterAlways, "every UNAVAILABLE carried retryAfter");
      assert.ok(report.unhealthy > 0 && (report.readyz[503] ?? 0) > 0, "health saw the outage");
      assert.ok(report.healthMaxMs <= 1_000, `HealthCheck took ${report.healthMaxMs} ms`);
      assert.ok(report.readyzMaxMs <= 1_000, `/readyz took ${report.readyzMaxMs} ms`);
      for (const p of [...servers, ...workers]) assert.ok(await alive(p), p.output());
    } finally {
      for (const p of [...workers, ...servers]) await p[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name:
    "embedded database: the server killed with kill -9 twice under load and restarted loses nothing and answers every result()",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dataDir = await migratedDataDir("kagzi_fault_");
    let server = await startServer({ dataDir });
    const { port, grpcPort } = server;
    const worker = await startWorker(server.url, { types: ["five-steps"] });
    try {
      const client = await Kagzi.connect(server.url);
      const startErrors: KagziError[] = [];
      const load = startRuns([client], 60, 100, startErrors);
      const restarts: number[] = [];
      for (const at of [1_500, 2_500]) {
        await sleep(at);
        server.kill("SIGKILL");
        await server.status;
        const t = performance.now();
        server = await startServer({ dataDir, port, grpcPort });
        restarts.push(Math.round(performance.now() - t));
      }
      const started = await load;
      // A start whose answer the kill cut off was retried with its workflow id: never doubled.
      assert.deepEqual(startErrors.map((e) => e.code), [], "every start got in");
      const outcomes = await Promise.all(started.map((s) => s.outcome));
      const rejected = outcomes.flatMap((o, i) =>
        o.ok ? [] : [`${started[i].id}: ${o.error.code} ${o.error.message}`]
      );
      assert.deepEqual(rejected, [], "result() rejected for a run");
      outcomes.forEach((o, i) =>
        assert.deepEqual(o.ok && o.value, { out: [1, 2, 3, 4, 5], runId: started[i].id })
      );
      const page = await client.list().type("five-steps").pageSize(1).withTotal();
      assert.equal(page.totalCount, started.length, "one stored run per start");
      await waitFor("the worker to be polling again", () => alive(worker));
      console.log(`embedded kill -9 ×2: ${started.length} runs, restart took ${restarts} ms`);
    } finally {
      await worker[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
