/**
 * The workloads, for any setup (separate processes, one process, many workers): a `Target`
 * says how to start runs, how to know they completed and how to read the counters.
 */
import type { Kagzi } from "@kagzi/sdk";
import { type Backend, makeRow, round, type Row, sleep, type Snapshot } from "./common.ts";

/** Concurrent starters in W1 (and its warm-up). */
export const STARTERS = 32;
/**
 * Start calls in flight in W1 with each result awaited (as the peers harness);
 * KAGZI_BENCH_USER_STARTS for an experiment.
 */
export const USER_STARTS = Number(Deno.env.get("KAGZI_BENCH_USER_STARTS") ?? 50);

export interface Target {
  backend: Backend;
  setup: string;
  client: Kagzi;
  /**
   * A result wait as the SDK did before WaitRuns (one GetWorkflow long poll per run), for the
   * A/B row "W1 results awaited, GetWorkflow each" (`--workloads …,w1get`).
   */
  getEach?: (runId: string) => Promise<unknown>;
  /** Postgres: rows get write transactions and WAL bytes per workflow. */
  postgres: boolean;
  /** Runs completed by the worker(s) so far. */
  completed(): Promise<number>;
  snapshot(): Promise<Snapshot>;
  /** Peak memory of server and worker(s). */
  rss(): { serverRssMiB?: number; workerRssMiB?: number };
  /** CPU ms used so far by each process of the setup (server, worker, client, postgres). */
  cpu?: () => Record<string, number>;
  /** Suffix of the workload labels, e.g. " (in-process)". */
  label?: string;
  /** How often to ask `completed()` while waiting. @default 5 */
  pollMs?: number;
  /** Postgres: refreshes the planner's statistics (after the warm-up filled the tables). */
  analyze?: () => Promise<unknown>;
}

/** Starts `n` runs of `type` (input `input(i)`) from `starters` concurrent loops. */
export async function startRuns(
  client: Kagzi,
  n: number,
  starters = STARTERS,
  type = "bench3",
  input: (i: number) => unknown = () => undefined,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: starters }, async () => {
    while (next < n) {
      const i = next++;
      await client.start(type).input(input(i));
    }
  }));
}

/** Polls `t.completed()` until it reaches `target`. */
export async function untilCompleted(
  t: Pick<Target, "completed" | "pollMs">,
  target: number,
  timeoutMs = 300_000,
): Promise<void> {
  const pollMs = t.pollMs ?? 5;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const done = await t.completed();
    if (done >= target) return;
    if (Date.now() > end) throw new Error(`only ${done} of ${target} workflows completed`);
    await sleep(pollMs);
  }
}

/**
 * Warm-up (JIT, prepared statements, connections, caches) with a W1 of half the size, then
 * `analyze` on Postgres: a fresh database has no planner statistics until autovacuum gets to
 * it, and W1 measured before that ran 20–40% slower than the same W1 after (W1 again). So
 * every W1 (and W5) compares like with like: a database in its steady state.
 */
export async function warmUp(
  t: Target,
  runs: number,
  warm = Math.ceil(runs / 2),
): Promise<void> {
  const start = await t.completed();
  await startRuns(t.client, warm);
  await untilCompleted(t, start + warm);
  await t.analyze?.();
}

/** Runs `body` between two snapshots and makes the row. */
export async function measure(
  t: Target,
  workload: string,
  workflows: number,
  steps: number,
  body: (
    before: Snapshot,
  ) => Promise<{ latencies?: number[]; clientRpcs?: number; extra?: Record<string, unknown> }>,
): Promise<Row> {
  const before = await t.snapshot();
  const cpu0 = t.cpu?.();
  const t0 = performance.now();
  const { latencies, clientRpcs, extra } = await body(before);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = t.cpu?.();
  const after = await t.snapshot();
  const row: Row = {
    ...makeRow(
      {
        backend: t.backend,
        setup: t.setup,
        workload: workload + (t.label ?? ""),
        workflows,
        steps,
        seconds,
        clientRpcs,
        latencies,
        postgres: t.postgres,
      },
      before,
      after,
    ),
    ...t.rss(),
  };
  if (extra) row.extra = { ...row.extra, ...extra };
  if (cpu0 && cpu1) {
    // CPU ms per workflow by process: where the time of a workload goes.
    const perWf: Record<string, number> = {};
    for (const k of Object.keys(cpu1)) perWf[k] = round((cpu1[k] - cpu0[k]) / workflows, 2);
    row.extra = { ...row.extra, cpuMsPerWorkflow: perWf };
  }
  console.error(`  ${t.backend} ${row.workload}: ${JSON.stringify(row)}`);
  return row;
}

/** W1: `runs` three-step workflows from 32 starters; the window ends when all completed. */
export function throughput(t: Target, workload: string, runs: number): Promise<Row> {
  return measure(t, workload, runs, 3, async (before) => {
    await startRuns(t.client, runs);
    await untilCompleted(t, before.completed + runs);
    return { clientRpcs: runs };
  });
}

/**
 * W1 as users run it (the headline row): `runs` starts with 50 start calls in flight, each
 * run's result awaited through its own handle (`(await client.start(…)).result()`, attached as
 * soon as the start returns, as the peers harness does with Restate); the window ends when the
 * last result arrived. Every output is checked. The client's RPCs are the server's count
 * (starts and result waits, however they are multiplexed) less the worker's.
 */
export function throughputAwaited(
  t: Target,
  workload: string,
  runs: number,
  getEach = false,
): Promise<Row> {
  return measure(t, workload, runs, 3, async () => {
    const results: Promise<void>[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: USER_STARTS }, async () => {
      while (next < runs) {
        next++;
        const run = await t.client.start<{ v: number }>("bench3");
        const result = getEach ? t.getEach!(run.id) as Promise<{ v: number }> : run.result();
        results.push(
          result.then((out) => {
            if (out?.v !== 3) throw new Error(`run ${run.id}: output ${JSON.stringify(out)}`);
          }),
        );
      }
    }));
    await Promise.all(results);
    return {};
  });
}

/** The workload label of round `r` (1-based): " r2" from the second on. */
export const inRound = (label: string, r: number) => r > 1 ? `${label} r${r}` : label;

/** W1 both ways, `rounds` times interleaved, so their ratio is measured under the same load. */
export async function w1Rounds(
  t: Target,
  runs: number,
  rounds: number,
  getEach = false,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (let r = 1; r <= rounds; r++) {
    rows.push(await throughputAwaited(t, inRound("W1 results awaited", r), runs));
    if (getEach && t.getEach) {
      const label = inRound("W1 results awaited, GetWorkflow each", r);
      rows.push(await throughputAwaited(t, label, runs, true));
    }
    rows.push(await throughput(t, inRound("W1 completions counted", r), runs));
  }
  return rows;
}

/**
 * W7: W1 with every run under flow control, "bench3-limited" (bench/worker.ts): at most one
 * open run per key over 1,000 keys, and at most 50 open runs in all.
 */
export function limitedThroughput(t: Target, workload: string, runs: number): Promise<Row> {
  return measure(t, workload, runs, 3, async (before) => {
    await startRuns(t.client, runs, STARTERS, "bench3-limited", (i) => ({ key: `k${i % 1000}` }));
    await untilCompleted(t, before.completed + runs);
    return { clientRpcs: runs };
  });
}

/**
 * W2: `runs` workflows one after another, each started and its result awaited; W8 the same of
 * `napper` (a step, a 1 ms sleep, a step: the worker keeps the run through the sleep).
 */
export function latency(
  t: Target,
  workload: string,
  runs: number,
  type: "bench3" | "napper" = "bench3",
): Promise<Row> {
  return measure(t, workload, runs, type === "bench3" ? 3 : 2, async () => {
    const latencies: number[] = [];
    // Where a lone run's time goes, as the client sees it: the start's answer, then the result.
    const starts: number[] = [];
    const results: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const run = await t.client.start(type);
      const t1 = performance.now();
      await run.result();
      const t2 = performance.now();
      latencies.push(t2 - t0);
      starts.push(t1 - t0);
      results.push(t2 - t1);
    }
    const p50 = (xs: number[]) => round(xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)], 2);
    return {
      latencies,
      clientRpcs: 2 * runs,
      extra: { startP50: p50(starts), resultP50: p50(results) },
    };
  });
}

/** W3: one workflow of `steps` sequential steps. */
export function depth(t: Target, steps: number): Promise<Row> {
  return measure(t, `W3 depth ${steps}`, 1, steps, async () => {
    await (await t.client.start("deep").input({ steps })).result();
    return { clientRpcs: 2 };
  });
}

/** W4: one workflow of `steps` parallel steps. */
export function fanOut(t: Target, steps: number): Promise<Row> {
  return measure(t, `W4 fan-out ${steps}`, 1, steps, async () => {
    await (await t.client.start("fanout").input({ steps })).result();
    return { clientRpcs: 2 };
  });
}
