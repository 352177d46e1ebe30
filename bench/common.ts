/**
 * What every setup of the benchmark shares: the result row, counter snapshots (worker stats,
 * Postgres transactions and WAL, server claim metrics) and the Postgres helpers.
 */
import postgres from "postgres";

export type Backend = "postgres" | "embedded";

/** One line of the table (and of latest.json). */
export interface Row {
  backend: Backend;
  /** "three-process", "in-process" or "many-workers". */
  setup: string;
  workload: string;
  workflows: number;
  seconds: number;
  workflowsPerSec?: number;
  stepsPerSec?: number;
  p50?: number;
  p95?: number;
  p99?: number;
  msPerStep?: number;
  rpcsPerWorkflow: number;
  /** Claim queries run by polls per run started in the window (kagzi_claim_queries_total). */
  claimsPerRun?: number;
  /** Runs a start handed straight to a waiting poll, per run started (kagzi_runs_matched_total). */
  matchedPerRun?: number;
  xactsPerWorkflow?: number;
  walBytesPerWorkflow?: number;
  serverRssMiB?: number;
  /** Peak RSS of the worker process (the sum over all of them with several). */
  workerRssMiB?: number;
  /** Anything else worth keeping in latest.json (not in the table). */
  extra?: Record<string, unknown>;
}

/** Counters read before and after a measured window; the row is made of their differences. */
export interface Snapshot {
  /** Runs the worker(s) completed. */
  completed: number;
  /** RPCs the worker(s) made. */
  workerRpcs: number;
  /** Postgres transaction ids handed out and WAL position (0 on embedded). */
  xact: number;
  wal: number;
  /** Server metrics: claim queries, sync-matched runs, started runs, RPCs answered. */
  claims: number;
  matched: number;
  started: number;
  rpcs: number;
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sums of the claim, match and start counters over all their labels in Prometheus text. */
export function parseMetrics(
  text: string,
): Pick<Snapshot, "claims" | "matched" | "started" | "rpcs"> {
  const sum = (name: string) => {
    let total = 0;
    for (const line of text.split("\n")) {
      const m = line.match(/^(\w+)(?:\{[^}]*\})?\s+(\S+)/);
      if (m && m[1] === name) total += Number(m[2]);
    }
    return total;
  };
  return {
    claims: sum("kagzi_claim_queries_total"),
    matched: sum("kagzi_runs_matched_total"),
    started: sum("kagzi_runs_started_total"),
    rpcs: sum("kagzi_rpc_duration_seconds_count"),
  };
}

/**
 * Write transactions are counted by transaction ids handed out (only a writing transaction gets
 * one): exact at once. pg_stat_database.xact_commit is not — an idle backend flushes its
 * counters up to 10 s late, so short workloads would look cheaper than they are.
 */
export async function dbCounters(sql?: postgres.Sql): Promise<{ xact: number; wal: number }> {
  if (!sql) return { xact: 0, wal: 0 };
  const [r] = await sql.unsafe(
    `select pg_snapshot_xmax(pg_current_snapshot())::text as xact,
            pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text as wal`,
  );
  return { xact: Number(r.xact), wal: Number(r.wal) };
}

export interface Measured {
  backend: Backend;
  setup: string;
  workload: string;
  workflows: number;
  steps: number;
  seconds: number;
  /** The client's RPCs (starts and result waits); unknown: the server's count less the worker's. */
  clientRpcs?: number;
  latencies?: number[];
  postgres: boolean;
}

/** A row from a measured window and the snapshots around it. */
export function makeRow(m: Measured, before: Snapshot, after: Snapshot): Row {
  const row: Row = {
    backend: m.backend,
    setup: m.setup,
    workload: m.workload,
    workflows: m.workflows,
    seconds: round(m.seconds, 3),
    rpcsPerWorkflow: 0,
  };
  const workerRpcs = after.workerRpcs - before.workerRpcs;
  const clientRpcs = m.clientRpcs ?? (after.rpcs - before.rpcs - workerRpcs);
  row.rpcsPerWorkflow = round((workerRpcs + clientRpcs) / m.workflows, 2);
  const started = after.started - before.started;
  if (started > 0) {
    row.claimsPerRun = round((after.claims - before.claims) / started, 3);
    row.matchedPerRun = round((after.matched - before.matched) / started, 3);
  }
  if (m.postgres) {
    row.xactsPerWorkflow = round((after.xact - before.xact) / m.workflows, 2);
    row.walBytesPerWorkflow = Math.round((after.wal - before.wal) / m.workflows);
  }
  if (m.latencies) {
    const l = [...m.latencies].sort((a, b) => a - b);
    const q = (p: number) => round(l[Math.min(l.length - 1, Math.floor(p * l.length))], 2);
    Object.assign(row, { p50: q(0.5), p95: q(0.95), p99: q(0.99) });
  } else if (m.workflows > 1) {
    row.workflowsPerSec = Math.round(m.workflows / m.seconds);
    row.stepsPerSec = Math.round((m.workflows * m.steps) / m.seconds);
  } else {
    row.msPerStep = round((m.seconds * 1000) / m.steps, 3);
    row.stepsPerSec = Math.round(m.steps / m.seconds);
  }
  return row;
}

export const adminUrl = Deno.env.get("KAGZI_BENCH_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

export async function postgresReachable(): Promise<boolean> {
  const s = postgres(adminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await s`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await s.end({ timeout: 1 }).catch(() => {});
  }
}

export async function postgresVersion(): Promise<string | undefined> {
  const s = postgres(adminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    const [r] = await s`select version() as v`;
    return r.v as string;
  } catch {
    return undefined;
  } finally {
    await s.end({ timeout: 1 }).catch(() => {});
  }
}

/** A fresh database for one setup: its URL, a connection to it, and a drop(). */
export async function freshDatabase(): Promise<
  { url: string; sql: postgres.Sql; drop: () => Promise<void> }
> {
  const name = `kagzi_bench_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const sql = postgres(u.href, { max: 8, onnotice: () => {} });
  return {
    url: u.href,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** Peak resident memory of a process in MiB (VmHWM); `self` for this one. */
export function peakRss(pid: number | "self"): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmHWM:\s+(\d+) kB/);
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in ms; `self` for this one. */
export function cpuMs(pid: number | "self"): number {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 (1-based); fields[0] is field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU time of the Postgres backends serving database `db`, in ms (0 where /proc cannot tell). */
export function postgresCpuMs(db: string): number {
  let total = 0;
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
        if (cmd.startsWith("postgres:") && cmd.includes(` ${db} `)) total += cpuMs(Number(e.name));
      } catch {
        // gone
      }
    }
  } catch {
    return 0;
  }
  return total;
}
