/**
 * The three-process setup: a server process, one worker process (maxConcurrent 50) and the
 * bench's own process as the client. W1–W4 on both backends; W5 and the Postgres ceiling on
 * Postgres.
 */
import type postgres from "postgres";
import { Kagzi } from "@kagzi/sdk";
import {
  type Backend,
  cpuMs,
  dbCounters,
  freshDatabase,
  peakRss,
  postgresCpuMs,
  type Row,
} from "./common.ts";
import { getEach } from "./get_each.ts";
import { startServer, startWorker, stop, sumRpcs, workerStats } from "./proc.ts";
import {
  depth,
  fanOut,
  latency,
  limitedThroughput,
  type Target,
  throughput,
  w1Rounds,
  warmUp,
} from "./workloads.ts";

export interface Sizes {
  runs: number;
  latency: number;
  backlog: number;
  /** W1 (results awaited, then completions counted) this many times, interleaved. */
  rounds: number;
  /** Which of w1–w5 to run. */
  workloads: Set<string>;
}

export async function threeProcess(
  backend: Backend,
  sizes: Sizes,
): Promise<{ rows: Row[]; ceiling?: number }> {
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await Deno.makeTempDir({ prefix: "kagzi_bench_" });
  const sql = db?.sql;
  const server = await startServer(db ? { databaseUrl: db.url } : { dataDir });
  const { proc: worker, ready } = startWorker(server.url, 50);
  await ready;
  const t: Target = {
    backend,
    setup: "three-process",
    client: await Kagzi.connect(server.url),
    getEach: getEach(server.url),
    postgres: !!sql,
    analyze: sql && (() => sql.unsafe("analyze")),
    completed: async () => (await workerStats(worker)).completed,
    snapshot: async () => {
      const [stats, counters, metrics] = await Promise.all([
        workerStats(worker),
        dbCounters(sql),
        server.metrics(),
      ]);
      return { completed: stats.completed, workerRpcs: sumRpcs(stats), ...counters, ...metrics };
    },
    cpu: () => ({
      server: cpuMs(server.child.pid),
      worker: cpuMs(worker.child.pid),
      client: cpuMs("self"),
      postgres: db ? postgresCpuMs(new URL(db.url).pathname.slice(1)) : 0,
    }),
    rss: () => ({
      serverRssMiB: peakRss(server.child.pid),
      workerRssMiB: peakRss(worker.child.pid),
    }),
  };
  const rows: Row[] = [];
  let ceiling: number | undefined;
  try {
    const w = sizes.workloads;
    await warmUp(t, sizes.runs);
    if (w.has("w1")) rows.push(...await w1Rounds(t, sizes.runs, sizes.rounds, w.has("w1get")));
    if (w.has("w7")) rows.push(await limitedThroughput(t, "W7 limited", sizes.runs));
    if (w.has("w2")) rows.push(await latency(t, "W2 latency", sizes.latency));
    if (w.has("w8")) rows.push(await latency(t, "W8 sleep latency", sizes.latency, "napper"));
    if (w.has("w3")) { for (const steps of [100, 500]) rows.push(await depth(t, steps)); }
    if (w.has("w4")) rows.push(await fanOut(t, 500));
    if (sql && w.has("w5")) {
      await addBacklog(sql, sizes.backlog);
      rows.push(await throughput(t, "W5 backlog", sizes.runs));
      // A/B/A: W1 once more without the backlog, so machine drift does not pass for a
      // backlog effect.
      await sql.unsafe(
        `delete from kagzi_runs where workflow_id like 'sleeper-%' or workflow_id like 'done-%'`,
      );
      await sql.unsafe(`vacuum analyze kagzi_runs`);
      rows.push(await throughput(t, "W1 again", sizes.runs));
      ceiling = await postgresCeiling(sql);
    }
  } finally {
    await stop(worker);
    await stop(server);
    await db?.drop();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
  return { rows, ceiling };
}

/** W5's backlog: sleeping runs due in a day, and completed runs. */
async function addBacklog(sql: postgres.Sql, backlog: number): Promise<void> {
  await sql.unsafe(
    `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, available_at, wake_up_at)
     select 'default', gen_random_uuid(), 'sleeper-' || i, 'bench3', 'SLEEPING', now() + interval '1 day', now() + interval '1 day'
     from generate_series(1, ${backlog}) i`,
  );
  await sql.unsafe(
    `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, finished_at)
     select 'default', gen_random_uuid(), 'done-' || i, 'bench3', 'COMPLETED', now()
     from generate_series(1, ${backlog / 10}) i`,
  );
  await sql.unsafe(`analyze kagzi_runs`);
}

/** Single-row UPDATE transactions per second from 8 connections for 3 s (pgbench-like). */
async function postgresCeiling(sql: postgres.Sql): Promise<number> {
  await sql.unsafe(`create table bench_ceiling (id int primary key, n bigint not null default 0)`);
  await sql.unsafe(`insert into bench_ceiling (id) select generate_series(1, 1000)`);
  let done = 0;
  const end = performance.now() + 3_000;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < end) {
      await sql.unsafe(`update bench_ceiling set n = n + 1 where id = $1`, [
        1 + Math.floor(Math.random() * 1000),
      ]);
      done++;
    }
  }));
  return Math.round(done / 3);
}
