/**
 * W6 many workers (Postgres only): on a fresh database and server, W1 (warm-up first) with
 * (a) one worker process of maxConcurrent 200, then (b) 20 worker processes of maxConcurrent 10:
 * the same capacity, split; and (c), the control, the same 20 workers × 10 in one process (the
 * same protocol and calls as (b) without twenty runtimes on the machine's cores); `rounds` times,
 * interleaved (a, b, c, a, b, c: one sample of each swung 0.62–1.02 within an hour on one host,
 * mostly with (a)). Each warm-up ends with `vacuum analyze`:
 * a phase churns 20,000 and more runs through the same tables, and where autovacuum is off (as
 * on this project's test machines) dead index entries piled up and the second round of 20 workers
 * ran at 388 and 599 wf/s against 584 and 669 in the first. Completions are counted in Postgres
 * (one query, however many workers); claim queries and sync matches per run come from the
 * server's /metrics.
 */
import { Kagzi } from "@kagzi/sdk";
import {
  cpuMs,
  dbCounters,
  freshDatabase,
  peakRss,
  postgresCpuMs,
  round,
  type Row,
} from "./common.ts";
import {
  type Proc,
  startServer,
  startWorker,
  stop,
  sumRpcs,
  type WorkerStats,
  workerStats,
} from "./proc.ts";
import { type Target, throughput, warmUp } from "./workloads.ts";

/** W6's ratios to (a), one worker × 200, of the means over the rounds. */
export interface W6Ratios {
  /** (b), 20 worker processes, over (a). */
  ratio: number;
  /** (b) over (a) in each round. */
  ratios: number[];
  /** (c), the control, over (a). */
  controlRatio: number;
}

/** W6's rows, one per phase and round in order (a, b, c, a, b, c, …), and its ratios. */
export interface ManyWorkersResult extends W6Ratios {
  rows: Row[];
}

/** (a), (b) and the control (c): worker processes, workers in each, slots of each. */
export const W6_PHASES = [
  { processes: 1, workers: 1, maxConcurrent: 200 },
  { processes: 20, workers: 1, maxConcurrent: 10 },
  { processes: 1, workers: 20, maxConcurrent: 10 },
] as const;

/** A W6 phase's name: "1 worker × 200", "20 workers × 10", "20 workers × 10 in 1 process". */
function w6Phase(p: (typeof W6_PHASES)[number]): string {
  const n = p.processes * p.workers;
  return `${n} worker${n > 1 ? "s" : ""} × ${p.maxConcurrent}` +
    (p.workers > 1 ? ` in ${p.processes} process` : "");
}

/**
 * `warmPerWorker`: warm-up runs per worker process (`deno task bench` passes 1,000, so each of
 * the 20 processes is as warm as the one worker × 200; without it, W1's warm-up of half of
 * `runs` is shared: 20 workers see 50 runs each and their code is measured before V8 optimized
 * it — 0.63 of one worker × 200 where equally warm processes reached 1.07, in one session).
 */
export async function manyWorkers(
  runs: number,
  warmPerWorker?: number,
  rounds = 2,
): Promise<ManyWorkersResult> {
  const db = await freshDatabase();
  const server = await startServer({ databaseUrl: db.url });
  const client = await Kagzi.connect(server.url);
  const completed = async () => {
    const [r] = await db.sql.unsafe(
      `select count(*)::int as n from kagzi_runs where status = 'COMPLETED'`,
    );
    return r.n as number;
  };
  const rows: Row[] = [];
  try {
    for (let pass = 1; pass <= rounds; pass++) {
      for (const phase of W6_PHASES) {
        const { processes, workers: perProcess, maxConcurrent } = phase;
        const workers = processes * perProcess;
        const label = `W6 ${w6Phase(phase)}` + (rounds > 1 ? ` #${pass}` : "");
        const t0 = performance.now();
        const started = Array.from(
          { length: processes },
          () => startWorker(server.url, maxConcurrent, perProcess),
        );
        const procs = started.map((w) => w.proc);
        try {
          await Promise.all(started.map((w) => w.ready));
          console.error(
            `  postgres ${label}: ${workers} worker(s) ready in ` +
              `${Math.round(performance.now() - t0)} ms`,
          );
          const stats: WorkerStats[][] = [];
          const t: Target = {
            backend: "postgres",
            setup: "many-workers",
            client,
            postgres: true,
            analyze: () => db.sql.unsafe("vacuum analyze"),
            completed,
            pollMs: 10,
            snapshot: async () => {
              const [s, counters, metrics, n] = await Promise.all([
                Promise.all(procs.map(workerStats)),
                dbCounters(db.sql),
                server.metrics(),
                completed(),
              ]);
              stats.push(s);
              const workerRpcs = s.reduce((a, w) => a + sumRpcs(w), 0);
              return { completed: n, workerRpcs, ...counters, ...metrics };
            },
            cpu: () => ({
              server: cpuMs(server.child.pid),
              workers: procs.reduce((a, p) => a + cpuMs(p.child.pid), 0),
              client: cpuMs("self"),
              postgres: postgresCpuMs(new URL(db.url).pathname.slice(1)),
            }),
            rss: () => ({
              serverRssMiB: peakRss(server.child.pid),
              workerRssMiB: procs.reduce((a, p) => a + peakRss(p.child.pid), 0),
            }),
          };
          await warmUp(t, runs, warmPerWorker ? warmPerWorker * processes : undefined);
          const row = await throughput(t, label, runs);
          const [before, after] = stats.slice(-2);
          const perWorker = after.map((s, i) => s.completed - before[i].completed);
          const rpcsPerWorkflow: Record<string, number> = {};
          for (const [i, s] of after.entries()) {
            for (const [name, n] of Object.entries(s.rpcs)) {
              const d = (n - (before[i].rpcs[name] ?? 0)) / runs;
              rpcsPerWorkflow[name] = round((rpcsPerWorkflow[name] ?? 0) + d, 3);
            }
          }
          row.extra = {
            ...row.extra,
            workers,
            processes,
            maxConcurrent,
            warmUpRuns: warmPerWorker ? warmPerWorker * processes : Math.ceil(runs / 2),
            completedPerWorker: { min: Math.min(...perWorker), max: Math.max(...perWorker) },
            completedByWorkers: perWorker.reduce((a, b) => a + b, 0),
            workerRpcsPerWorkflow: rpcsPerWorkflow,
          };
          rows.push(row);
        } finally {
          await stopAll(procs);
        }
      }
    }
  } finally {
    await stop(server);
    await db.drop();
  }
  const wfs = (phase: number) =>
    rows.filter((_, i) => i % W6_PHASES.length === phase).map((r) => r.workflowsPerSec ?? 0);
  const [a, b, c] = [wfs(0), wfs(1), wfs(2)];
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / (xs.length || 1);
  return {
    rows,
    ratio: round(mean(b) / (mean(a) || 1), 2),
    ratios: a.map((x, i) => round((b[i] ?? 0) / (x || 1), 2)),
    controlRatio: round(mean(c) / (mean(a) || 1), 2),
  };
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map(stop));
}
