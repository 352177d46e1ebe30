/**
 * `deno task bench`: Kagzi's benchmark, on a real Postgres (when one answers on 127.0.0.1:5432)
 * and on the embedded database. Prints a table and writes bench/results/latest.json.
 *
 * Setups (all on 127.0.0.1):
 *   three-process  a server process, one worker process (maxConcurrent 50), this process as
 *                  the client (bench/three_process.ts)
 *   in-process     server, worker (maxConcurrent 50) and client in one process, no network hop
 *                  (bench/in_process.ts, spawned per backend)
 *   many-workers   Postgres only: one worker process of 200 against 20 of 10 (bench/many_workers.ts)
 *
 * Workloads:
 *   W1 results awaited (the headline): 2,000 three-step workflows, 50 start calls in flight, each
 *                  run's result awaited through its own handle, as users do (after a warm-up)
 *   W1 completions counted: the same runs from 32 starters, completions counted by the worker
 *   W2 latency:    200 workflows one after another (start, await result)
 *   W3 depth:      one workflow of 100, then 500 sequential steps
 *   W4 fan-out:    one workflow of 500 parallel steps
 *   W5 backlog:    W1 again beside 100,000 sleeping and 10,000 completed runs,
 *                  then W1 once more without them (compared with the mean of both W1)
 *   W6 many workers: W1 with 1 worker × 200, then 20 worker processes × 10, then (the control)
 *                  the same 20 workers × 10 in one process; claim queries per run
 *   W7 limited:    W1 with every run under a per-key concurrency limit of 1 over 1,000 keys and
 *                  a global limit of 50 (three-process; its ratio to W1 printed)
 *   W8 sleep latency: as W2, of a step, a durable 1 ms sleep and a step (the worker keeps the
 *                  run through the sleep: holdSleeps' default; before, it suspended, was woken
 *                  and claimed again, its history sent along)
 *
 *   soak           not by default (--setups soak): bench3 at --soak-rate runs/s for
 *                  --soak-minutes (20); RSS and open fds of server and worker sampled every
 *                  30 s, growth per hour after warm-up (bench/soak.ts)
 *
 *   peers          beside the peers harness (../peers or ../shared/peers: Restate, DBOS, …),
 *                  its figures and Kagzi's ratios to them: from its newest results file, from
 *                  --peers FILE|DIR, or run first in this invocation with --run-peers
 *                  (--peer-list "dbos:inproc restate:default") (bench/peers.ts)
 *
 * Options: --backend postgres,embedded  --setups three,in,w6  --runs 2000  --latency 200
 *          --backlog 100000  --soak-minutes 20  --soak-rate 50
 *          --rounds 1 (W1 both ways, interleaved)  --workloads w1,w7,w2,w8,w3,w4,w5
 *          --peers FILE|DIR  --run-peers  --peer-list "dbos:inproc restate:default"
 *          --peer-rounds N (1: with --run-peers, the peers then three-process and in-process N
 *          times over; each round's ratios and their median)
 *          --w6-warm N (warm-up runs per W6 worker process, 1,000: each process as warm as
 *          the one worker × 200; with 50 each, 20 cold processes measured 0.63 instead of 1.07)
 *          --w6-rounds N (2: the three W6 phases N times, interleaved; ratios of the means)
 */
import { parseArgs } from "node:util";
import {
  type Backend,
  freshDatabase,
  postgresReachable,
  postgresVersion,
  type Row,
} from "./common.ts";
import { spawn } from "./proc.ts";
import { threeProcess } from "./three_process.ts";
import { manyWorkers, type W6Ratios } from "./many_workers.ts";
import { soak, type SoakReport } from "./soak.ts";
import { machine, summary, table, writeJson } from "./report.ts";
import {
  type PeerRatio,
  peerRatioFigures,
  peerRatios,
  type Peers,
  peersDir,
  peersTable,
  readPeers,
  roundRatios,
  runPeers,
} from "./peers.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "" },
    setups: { type: "string", default: "three,in,w6" },
    runs: { type: "string", default: "2000" },
    latency: { type: "string", default: "200" },
    backlog: { type: "string", default: "100000" },
    "soak-minutes": { type: "string", default: "20" },
    "soak-rate": { type: "string", default: "50" },
    rounds: { type: "string", default: "1" },
    "w6-warm": { type: "string", default: "1000" },
    "w6-rounds": { type: "string", default: "2" },
    workloads: { type: "string", default: "w1,w7,w2,w8,w3,w4,w5" },
    peers: { type: "string", default: "" },
    "run-peers": { type: "boolean", default: false },
    "peer-list": { type: "string", default: "dbos:inproc restate:default" },
    "peer-rounds": { type: "string", default: "1" },
  },
}).values;
// Counts, sizes and rates: a typo would otherwise run nothing, or forever, without a word.
for (
  const [name, whole] of [
    ["runs", true],
    ["latency", true],
    ["backlog", true],
    ["rounds", true],
    ["w6-warm", true],
    ["w6-rounds", true],
    ["peer-rounds", true],
    ["soak-minutes", false],
    ["soak-rate", false],
  ] as const
) {
  const value = Number(args[name]);
  if (!(value > 0 && Number.isFinite(value)) || (whole && !Number.isInteger(value))) {
    console.error(
      `--${name} must be a positive ${whole ? "whole " : ""}number, not ${
        JSON.stringify(args[name])
      }`,
    );
    Deno.exit(2);
  }
}
const sizes = {
  runs: Number(args.runs),
  latency: Number(args.latency),
  backlog: Number(args.backlog),
  rounds: Number(args.rounds),
  workloads: new Set(args.workloads.split(",")),
};
const setups = new Set(args.setups.split(","));

/** Runs bench/in_process.ts for one backend (on a fresh database) and collects its rows. */
async function inProcess(backend: Backend): Promise<Row[]> {
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await Deno.makeTempDir({ prefix: "kagzi_bench_inproc_" });
  try {
    const proc = spawn([
      "run",
      "-A",
      "--unstable-no-legacy-abort",
      "bench/in_process.ts",
      "--backend",
      backend,
      ...(db ? ["--database-url", db.url] : ["--data-dir", dataDir]),
      "--runs",
      String(sizes.runs),
      "--latency",
      String(sizes.latency),
      "--rounds",
      String(sizes.rounds),
      "--workloads",
      args.workloads,
    ], { echo: true });
    const timeout = setTimeout(() => proc.child.kill("SIGKILL"), 300_000);
    const status = await proc.child.status;
    clearTimeout(timeout);
    const result = proc.stdout().match(/^result (\{.*\})$/m);
    if (!status.success || !result) {
      throw new Error(`in_process.ts exited with ${status.code}:\n${proc.out().slice(-2000)}`);
    }
    return JSON.parse(result[1]).rows;
  } finally {
    await db?.drop();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
}

const started = performance.now();
const pgVersion = await postgresVersion();
const wanted =
  (args.backend
    ? args.backend.split(",")
    : pgVersion
    ? ["postgres", "embedded"]
    : ["embedded"]) as Backend[];
if (wanted.includes("postgres") && !(await postgresReachable())) {
  throw new Error("Postgres is not reachable (KAGZI_BENCH_POSTGRES_URL)");
}

const results: Row[] = [];
const ceilings: Record<string, number> = {};
const errors: string[] = [];
let w6: W6Ratios | undefined;
const soaks: SoakReport[] = [];
/** Runs one setup; a failure is reported and the others still run. */
const attempt = async (what: string, fn: () => Promise<void>) => {
  console.error(`== ${what}`);
  try {
    await fn();
  } catch (err) {
    const msg = `${what}: ${err instanceof Error ? err.stack ?? err.message : err}`;
    console.error(`!! ${msg}`);
    errors.push(msg);
  }
};

// With --run-peers --peer-rounds N: the peers, then three-process and in-process, N times over.
const peerRounds = args["run-peers"] ? Number(args["peer-rounds"]) : 1;
let peers: Peers | undefined;
const peerRuns: Peers[] = [];
let rows: Row[] = [];
const figures: PeerRatio[][] = [];
const peerLines: string[] = [];
for (let r = 1; r <= peerRounds; r++) {
  if (args["run-peers"]) {
    const dir = peersDir(args.peers || undefined);
    if (!dir) throw new Error("--run-peers: no peers harness in ../peers or ../shared/peers");
    const run = await runPeers(dir, args["peer-list"], sizes.runs);
    // The harness runs one round of its own each time: numbered as this invocation's rounds.
    peers = { ...run, results: run.results.map((x) => ({ ...x, round: r })) };
    peerRuns.push(peers);
  } else peers = readPeers(args.peers || undefined);
  rows = [];
  for (const backend of wanted) {
    if (setups.has("three")) {
      await attempt(`${backend} three-process`, async () => {
        const { rows: three, ceiling } = await threeProcess(backend, sizes);
        rows.push(...three);
        if (ceiling) ceilings[backend] = ceiling;
      });
    }
    if (setups.has("in")) {
      await attempt(`${backend} in-process`, async () => {
        rows.push(...await inProcess(backend));
      });
    }
  }
  const tag = peerRounds > 1 ? ` #${r}` : "";
  results.push(...rows.map((row) => ({ ...row, workload: row.workload + tag })));
  if (peers) {
    peerLines.push(`\n${peersTable(peers)}`);
    figures.push(peerRatioFigures(rows, peers));
    peerLines.push(...peerRatios(rows, peers).map((l) => (tag ? `round ${r}: ${l}` : l)));
  }
}
if (peerRounds > 1) peerLines.push(...roundRatios(figures));

for (const backend of wanted) {
  if (setups.has("w6") && backend === "postgres") {
    await attempt(`${backend} W6 many workers`, async () => {
      const { rows: w6Rows, ...ratios } = await manyWorkers(
        sizes.runs,
        Number(args["w6-warm"]),
        Number(args["w6-rounds"]),
      );
      results.push(...w6Rows);
      rows.push(...w6Rows);
      w6 = ratios;
    });
  }
  if (setups.has("soak")) {
    await attempt(`${backend} soak`, async () => {
      const r = await soak(backend, {
        minutes: Number(args["soak-minutes"]),
        ratePerSecond: Number(args["soak-rate"]),
      });
      soaks.push(r);
      console.log(
        `soak ${backend}: ${r.completed} runs in ${r.minutes} min; after warm-up, per hour: ` +
          `server RSS ${r.serverRssMiBPerHour} MiB, fds ${r.serverFdsPerHour}; worker RSS ` +
          `${r.workerRssMiBPerHour} MiB, fds ${r.workerFdsPerHour}`,
      );
    });
  }
}

console.log(table(results));
// The last round's rows (untagged) and W6's: the summary's ratios within one round.
const lines = summary(rows, ceilings, w6);
for (const l of peerLines) {
  if (l.startsWith("\n")) console.log(l);
  else lines.push(l);
}
if (lines.length) console.log(`\n${lines.join("\n")}`);
if (errors.length) console.log(`\n${errors.length} setup(s) failed:\n${errors.join("\n")}`);
const seconds = Math.round((performance.now() - started) / 1000);
const file = await writeJson({
  date: new Date().toISOString(),
  machine: machine(),
  postgres: pgVersion,
  seconds,
  sizes,
  ceilings,
  w6,
  soak: soaks.length ? soaks : undefined,
  summary: lines,
  peers: peers && {
    file: peerRuns.map((p) => p.file).join(", ") || peers.file,
    sameRun: peers.sameRun,
    results: peerRuns.length ? peerRuns.flatMap((p) => p.results) : peers.results,
  },
  errors,
  results,
});
console.error(`wrote ${file} (${seconds} s)`);
if (errors.length) Deno.exitCode = 1;
