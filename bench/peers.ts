/**
 * The peers beside Kagzi: the results of the peers harness (`../shared/peers`: Restate, DBOS,
 * pg-boss, … on the same Postgres, the same 3-step workflow), read from its results file or run
 * by `deno task bench --run-peers` just before Kagzi's own setups, and the ratios of Kagzi's
 * figures to theirs.
 */
import { round, type Row } from "./common.ts";

/** One peer run as the harness writes it (a line of results.jsonl). */
export interface PeerResult {
  peer: string;
  variant: string;
  round: number;
  w1?: { wfPerSec: number; writeXactsPerWf?: number | null };
  w2?: { p50: number; p95: number; p99: number };
  error?: string;
  at?: string;
}

/** The peers' results and where they came from. */
export interface Peers {
  file: string;
  results: PeerResult[];
  /** True when the harness ran in this invocation (else: an earlier run's file). */
  sameRun: boolean;
}

const root = new URL("../", import.meta.url).pathname;
/** Where the harness is looked for: beside the project, then the shared copy. */
const candidates = [`${root}../peers`, `${root}../shared/peers`];

const exists = (path: string) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

/** The newest results.jsonl under a harness directory (results/<stamp>/results.jsonl). */
function newestResults(dir: string): string | undefined {
  let stamps: string[] = [];
  try {
    stamps = [...Deno.readDirSync(`${dir}/results`)].filter((e) => e.isDirectory)
      .map((e) => e.name).sort();
  } catch {
    return undefined;
  }
  for (const s of stamps.reverse()) {
    const f = `${dir}/results/${s}/results.jsonl`;
    if (exists(f) && Deno.statSync(f).size > 0) return f;
  }
  return undefined;
}

/** A harness directory: `path` when given, else the first candidate that exists. */
export function peersDir(path?: string): string | undefined {
  if (path) return path;
  return candidates.find((d) => exists(`${d}/run_all.sh`));
}

/**
 * The peers' results from `path` (a results.jsonl, or a harness directory: its newest run),
 * or from the harness found beside the project; undefined when there are none.
 */
export function readPeers(path?: string): Peers | undefined {
  let file: string | undefined;
  if (path && path.endsWith(".jsonl")) file = path;
  else if (path) file = newestResults(path);
  else {
    for (const d of candidates) {
      file = newestResults(d);
      if (file) break;
    }
  }
  if (!file) return undefined;
  const results = Deno.readTextFileSync(file).split("\n").filter(Boolean)
    .map((l) => JSON.parse(l) as PeerResult)
    .filter((r) => r.peer !== "pgbench");
  return { file, results, sameRun: false };
}

/**
 * Runs the harness in `dir` (`run_all.sh`, one round of `peers`); a read-only directory (the
 * shared copy) is copied to a temporary one first. Returns its results.
 */
export async function runPeers(dir: string, peers: string, runs: number): Promise<Peers> {
  let work = dir;
  try {
    Deno.writeTextFileSync(`${dir}/.kagzi_write_check`, "");
    Deno.removeSync(`${dir}/.kagzi_write_check`);
  } catch {
    work = `${Deno.env.get("TMPDIR") ?? "/tmp"}/kagzi_bench_peers`;
    if (!exists(`${work}/run_all.sh`)) {
      await sh(["cp", "-r", dir, work]);
      await sh(["chmod", "-R", "u+w", work]);
    }
  }
  console.error(`== peers (${peers}) in ${work}`);
  const cmd = new Deno.Command("bash", {
    args: ["run_all.sh"],
    cwd: work,
    env: { ROUNDS: "1", PEERS: peers, BENCH_N: String(runs) },
    stdout: "inherit",
    stderr: "inherit",
  });
  const status = await cmd.output();
  if (!status.success) throw new Error(`peers harness exited with ${status.code}`);
  const found = readPeers(work);
  if (!found) throw new Error(`peers harness wrote no results under ${work}/results`);
  return { ...found, sameRun: true };
}

async function sh(args: string[]): Promise<void> {
  const out = await new Deno.Command(args[0], { args: args.slice(1) }).output();
  if (!out.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** The peers' table: W1 wf/s and W2 percentiles of each peer run that succeeded. */
export function peersTable(p: Peers): string {
  const ok = p.results.filter((r) => !r.error && r.w1 && r.w2);
  return [
    "| peer | variant | round | W1 wf/s | W2 p50 ms | W2 p95 ms | W2 p99 ms |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...ok.map((r) =>
      `| ${r.peer} | ${r.variant} | ${r.round} | ${r.w1!.wfPerSec} | ${r.w2!.p50} | ${
        r.w2!.p95
      } | ${r.w2!.p99} |`
    ),
  ].join("\n");
}

/** Kagzi's figures over the peers': the targets of issue 26. */
export function peerRatios(rows: Row[], p: Peers): string[] {
  const ok = p.results.filter((r) => !r.error && r.w1 && r.w2);
  if (!ok.length) return [];
  const name = (r: PeerResult) => `${r.peer} ${r.variant}`;
  const bestW1 = ok.reduce((a, b) => (b.w1!.wfPerSec > a.w1!.wfPerSec ? b : a));
  const bestP50 = ok.reduce((a, b) => (b.w2!.p50 < a.w2!.p50 ? b : a));
  const dbos = ok.find((r) => r.peer === "dbos" && r.variant === "inproc");
  const find = (workload: string) =>
    rows.find((r) => r.backend === "postgres" && r.workload === workload);
  const lines = [
    `Peers from ${p.file}${
      p.sameRun ? " (run just before)" : " (an earlier run: not one session)"
    }`,
  ];
  const ratio = (a?: number, b?: number) => (a && b ? round(a / b, 2) : undefined);
  for (const w of ["W1 results awaited", "W1 results awaited (in-process)"]) {
    const r = find(w)?.workflowsPerSec;
    if (r) {
      lines.push(
        `${w}: ${r} wf/s = ${ratio(r, bestW1.w1!.wfPerSec)}× the best peer ` +
          `(${name(bestW1)} ${bestW1.w1!.wfPerSec} wf/s; target ≥ 1.5×)`,
      );
    }
  }
  const p50 = find("W2 latency")?.p50;
  if (p50) {
    lines.push(
      `W2 p50 three-process: ${p50} ms = ${ratio(p50, bestP50.w2!.p50)}× the best peer ` +
        `(${name(bestP50)} ${bestP50.w2!.p50} ms; target ≤ 1×)`,
    );
  }
  const inP50 = find("W2 latency (in-process)")?.p50;
  if (inP50 && dbos) {
    lines.push(
      `W2 p50 in-process: ${inP50} ms = ${ratio(inP50, dbos.w2!.p50)}× DBOS in-process ` +
        `(${dbos.w2!.p50} ms; target ≤ 0.8×)`,
    );
  }
  return lines;
}
