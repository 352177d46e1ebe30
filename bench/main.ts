/**
 * `deno task bench`: Kagzi's benchmark. Real processes on 127.0.0.1: one server,
 * one worker (maxConcurrent 50), this process as the client. Runs W1–W5 on a
 * real Postgres (when one answers on 127.0.0.1:5432) and on the embedded
 * database, prints a table and writes bench/results/latest.json.
 *
 *   W1 throughput: 2,000 three-step workflows started as fast as possible
 *   W2 latency:    200 workflows one after another (start, await result)
 *   W3 depth:      one workflow of 100, then 500 sequential steps
 *   W4 fan-out:    one workflow of 500 parallel steps
 *   W5 backlog:    W1 again beside 100,000 sleeping and 10,000 completed runs,
 *                  then W1 once more without them (compared with the mean of both W1)
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { Kagzi } from "@kagzi/sdk";

const args = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "" },
    runs: { type: "string", default: "2000" },
    latency: { type: "string", default: "200" },
    backlog: { type: "string", default: "100000" },
  },
}).values;
const W1_RUNS = Number(args.runs);
const W2_RUNS = Number(args.latency);
const BACKLOG = Number(args.backlog);
const adminUrl = Deno.env.get("KAGZI_BENCH_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";
const root = new URL("../", import.meta.url).pathname;

interface Proc {
  child: Deno.ChildProcess;
  out: () => string;
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

function spawn(args: string[], env: Record<string, string> = {}): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    cwd: root,
  }).spawn();
  let out = "";
  const waiters: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = out.slice(w.from).match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) {
      out += c;
      check();
    }
  };
  pump(child.stdout);
  pump(child.stderr);
  return {
    child,
    out: () => out,
    waitFor: (re, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const w = { re, from: out.length, resolve };
        waiters.push(w);
        setTimeout(
          () => reject(new Error(`timed out waiting for ${re}:\n${out.slice(-2000)}`)),
          ms,
        );
        check();
      }),
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Peak resident memory of a process in MiB (VmHWM). */
function peakRss(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmHWM:\s+(\d+) kB/);
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

interface WorkerStats {
  completed: number;
  rpcs: Record<string, number>;
}

async function workerStats(worker: Proc): Promise<WorkerStats> {
  const waiting = worker.waitFor(/stats (\{.*\})\n/, 10_000);
  Deno.kill(worker.child.pid, "SIGUSR1");
  return JSON.parse((await waiting)[1]);
}

async function waitCompleted(
  worker: Proc,
  target: number,
  timeoutMs: number,
): Promise<WorkerStats> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await workerStats(worker);
    if (s.completed >= target) return s;
    if (Date.now() > end) throw new Error(`only ${s.completed} of ${target} workflows completed`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Row {
  backend: string;
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
  xactsPerWorkflow?: number;
  walBytesPerWorkflow?: number;
  serverRssMiB: number;
  workerRssMiB: number;
}

const sumRpcs = (s: WorkerStats) => Object.values(s.rpcs).reduce((a, b) => a + b, 0);

async function runBackend(
  backend: "postgres" | "embedded",
): Promise<{ rows: Row[]; ceiling?: number }> {
  let dbName = "";
  let databaseUrl = "";
  let dataDir = "";
  let admin: postgres.Sql | undefined;
  let sql: postgres.Sql | undefined;
  if (backend === "postgres") {
    dbName = `kagzi_bench_${crypto.randomUUID().slice(0, 8)}`;
    admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    const u = new URL(adminUrl);
    u.pathname = `/${dbName}`;
    databaseUrl = u.href;
    sql = postgres(databaseUrl, { max: 8, onnotice: () => {} });
  } else {
    dataDir = await Deno.makeTempDir({ prefix: "kagzi_bench_" });
  }
  const port = freePort();
  // KAGZI_BENCH_PROFILE=1 writes V8 CPU profiles of server and worker to bench/results/.
  const prof = Deno.env.get("KAGZI_BENCH_PROFILE")
    ? ["--cpu-prof", "--cpu-prof-dir", "bench/results/profiles"]
    : [];
  const server = spawn([
    "run",
    "-A",
    ...prof,
    "--unstable-no-legacy-abort",
    "server/main.ts",
    "--port",
    String(port),
    "--grpc-port",
    "0",
    "--log-level",
    "warn",
    ...(databaseUrl ? ["--database-url", databaseUrl] : ["--data-dir", dataDir]),
  ]);
  await server.waitFor(/ ready: /);
  const url = `http://127.0.0.1:${port}`;
  const worker = spawn(["run", "-A", ...prof, "bench/worker.ts", url]);
  await worker.waitFor(/worker ready/);
  const client = await Kagzi.connect(url);
  const rows: Row[] = [];

  // Write transactions are counted by transaction ids handed out (only a writing transaction
  // gets one): exact at once. pg_stat_database.xact_commit is not — an idle backend flushes its
  // counters up to 10 s late, so short workloads would look cheaper than they are.
  const counters = async () => {
    if (!sql) return { xact: 0, wal: 0 };
    const [r] = await sql.unsafe(
      `select pg_snapshot_xmax(pg_current_snapshot())::text as xact,
              pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text as wal`,
    );
    return { xact: Number(r.xact), wal: Number(r.wal) };
  };

  const measure = async (
    workload: string,
    workflows: number,
    steps: number,
    body: () => Promise<{ latencies?: number[]; clientRpcs: number }>,
  ) => {
    const before = await counters();
    const statsBefore = await workerStats(worker);
    const t0 = performance.now();
    const { latencies, clientRpcs } = await body();
    const seconds = (performance.now() - t0) / 1000;
    const statsAfter = await workerStats(worker);
    const after = await counters();
    // Worker RPCs (polls, heartbeats, step and run calls) plus the client's starts and result waits.
    const rpcs = sumRpcs(statsAfter) - sumRpcs(statsBefore) + clientRpcs;
    const row: Row = {
      backend,
      workload,
      workflows,
      seconds: round(seconds, 3),
      rpcsPerWorkflow: round(rpcs / workflows, 2),
      serverRssMiB: peakRss(server.child.pid),
      workerRssMiB: peakRss(worker.child.pid),
    };
    if (sql) {
      row.xactsPerWorkflow = round((after.xact - before.xact) / workflows, 2);
      row.walBytesPerWorkflow = Math.round((after.wal - before.wal) / workflows);
    }
    if (latencies) {
      latencies.sort((a, b) => a - b);
      const q = (p: number) =>
        round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))], 2);
      Object.assign(row, { p50: q(0.5), p95: q(0.95), p99: q(0.99) });
    } else if (workflows > 1) {
      row.workflowsPerSec = Math.round(workflows / seconds);
      row.stepsPerSec = Math.round((workflows * steps) / seconds);
    } else {
      row.msPerStep = round((seconds * 1000) / steps, 3);
      row.stepsPerSec = Math.round(steps / seconds);
    }
    rows.push(row);
    console.error(`  ${backend} ${workload}: ${JSON.stringify(row)}`);
  };

  const throughput = async (label: string) => {
    const start = (await workerStats(worker)).completed;
    await measure(label, W1_RUNS, 3, async () => {
      let next = 0;
      const starter = async () => {
        while (next < W1_RUNS) {
          next++;
          await client.start("bench3");
        }
      };
      await Promise.all(Array.from({ length: 32 }, starter));
      await waitCompleted(worker, start + W1_RUNS, 300_000);
      return { clientRpcs: W1_RUNS };
    });
  };

  // Warm up (JIT, prepared statements, connections, caches) with a W1 of half the size,
  // so that W1 and W5 compare like with like.
  {
    const warm = Math.ceil(W1_RUNS / 2);
    const start = (await workerStats(worker)).completed;
    let next = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (next++ < warm) await client.start("bench3");
    }));
    await waitCompleted(worker, start + warm, 300_000);
  }

  await throughput("W1 throughput");
  await measure("W2 latency", W2_RUNS, 3, async () => {
    const latencies: number[] = [];
    for (let i = 0; i < W2_RUNS; i++) {
      const t = performance.now();
      await (await client.start("bench3")).result();
      latencies.push(performance.now() - t);
    }
    return { latencies, clientRpcs: 2 * W2_RUNS };
  });
  for (const steps of [100, 500]) {
    await measure(`W3 depth ${steps}`, 1, steps, async () => {
      await (await client.start("deep").input({ steps })).result();
      return { clientRpcs: 2 };
    });
  }
  await measure("W4 fan-out 500", 1, 500, async () => {
    await (await client.start("fanout").input({ steps: 500 })).result();
    return { clientRpcs: 2 };
  });
  let ceiling: number | undefined;
  if (sql) {
    // Backlog: sleeping runs due in a day, completed runs with their payloads.
    await sql.unsafe(
      `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, available_at, wake_up_at)
       select 'default', gen_random_uuid(), 'sleeper-' || i, 'bench3', 'SLEEPING', now() + interval '1 day', now() + interval '1 day'
       from generate_series(1, ${BACKLOG}) i`,
    );
    await sql.unsafe(
      `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status, finished_at)
       select 'default', gen_random_uuid(), 'done-' || i, 'bench3', 'COMPLETED', now()
       from generate_series(1, ${BACKLOG / 10}) i`,
    );
    await sql.unsafe(`analyze kagzi_runs`);
    await throughput("W5 backlog");
    // A/B/A: W1 once more without the backlog, so machine drift does not pass for a backlog effect.
    await sql.unsafe(
      `delete from kagzi_runs where workflow_id like 'sleeper-%' or workflow_id like 'done-%'`,
    );
    await sql.unsafe(`vacuum analyze kagzi_runs`);
    await throughput("W1 again");
    ceiling = await postgresCeiling(sql);
  }
  worker.child.kill("SIGTERM");
  await worker.child.status;
  server.child.kill("SIGTERM");
  await server.child.status;
  await sql?.end();
  if (admin) {
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
  if (dataDir) await Deno.remove(dataDir, { recursive: true });
  return { rows, ceiling };
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

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

async function postgresReachable(): Promise<boolean> {
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

const wanted = args.backend
  ? args.backend.split(",")
  : (await postgresReachable())
  ? ["postgres", "embedded"]
  : ["embedded"];
const results: Row[] = [];
const ceilings: Record<string, number> = {};
for (const b of wanted as ("postgres" | "embedded")[]) {
  console.error(`== ${b}`);
  const { rows, ceiling } = await runBackend(b);
  results.push(...rows);
  if (ceiling) ceilings[b] = ceiling;
}

const cols: [keyof Row, string][] = [
  ["backend", "backend"],
  ["workload", "workload"],
  ["workflowsPerSec", "wf/s"],
  ["stepsPerSec", "steps/s"],
  ["p50", "p50 ms"],
  ["p95", "p95 ms"],
  ["p99", "p99 ms"],
  ["msPerStep", "ms/step"],
  ["rpcsPerWorkflow", "RPCs/wf"],
  ["xactsPerWorkflow", "write xacts/wf"],
  ["walBytesPerWorkflow", "WAL B/wf"],
  ["serverRssMiB", "server MiB"],
  ["workerRssMiB", "worker MiB"],
];
const lines = [
  `| ${cols.map((c) => c[1]).join(" | ")} |`,
  `| ${cols.map(() => "---").join(" | ")} |`,
  ...results.map((r) => `| ${cols.map(([k]) => r[k] ?? "").join(" | ")} |`),
];
console.log(lines.join("\n"));
const w1 = results.find((r) => r.backend === "postgres" && r.workload === "W1 throughput");
if (ceilings.postgres && w1?.xactsPerWorkflow) {
  const bound = ceilings.postgres / w1.xactsPerWorkflow;
  console.log(
    `\nPostgres ceiling: ${ceilings.postgres} single-row update transactions/s (8 clients); ` +
      `÷ ${w1.xactsPerWorkflow} write transactions per workflow = ${
        Math.round(bound)
      } workflows/s; ` +
      `W1 reaches ${Math.round((100 * (w1.workflowsPerSec ?? 0)) / bound)}% of that.`,
  );
}
const w5 = results.find((r) => r.workload === "W5 backlog");
const w1again = results.find((r) => r.backend === "postgres" && r.workload === "W1 again");
if (w1 && w5 && w1again) {
  const base = ((w1.workflowsPerSec ?? 0) + (w1again.workflowsPerSec ?? 0)) / 2;
  console.log(
    `W5 / W1 throughput: ${round((w5.workflowsPerSec ?? 0) / base, 2)} ` +
      `(W1 before and after W5: ${w1.workflowsPerSec} and ${w1again.workflowsPerSec} wf/s)`,
  );
}
await Deno.mkdir(new URL("results/", import.meta.url), { recursive: true });
const json = {
  date: new Date().toISOString(),
  machine: `${Deno.build.os} ${navigator.hardwareConcurrency} cores`,
  ceilings,
  results,
};
await Deno.writeTextFile(
  new URL("results/latest.json", import.meta.url),
  JSON.stringify(json, null, 2) + "\n",
);
