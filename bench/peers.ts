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

/** One of Kagzi's figures over a peer's: a target of issue 26. */
export interface PeerRatio {
  /** What is compared: "W2 p50 in-process". */
  what: string;
  /** Kagzi's figure and the peer's (wf/s or ms). */
  kagzi: number;
  peer: number;
  /** The peer compared with: "dbos inproc". */
  peerName: string;
  unit: "wf/s" | "ms";
  ratio: number;
  /** The target, as printed: "≥ 1.5×". */
  target: string;
  /** Whether the ratio meets the target. */
  met: boolean;
}

/** Kagzi's figures over the peers': the targets of issue 26. */
export function peerRatioFigures(rows: Row[], p: Peers): PeerRatio[] {
  const ok = p.results.filter((r) => !r.error && r.w1 && r.w2);
  if (!ok.length) return [];
  const name = (r: PeerResult) => `${r.peer} ${r.variant}`;
  const bestW1 = ok.reduce((a, b) => (b.w1!.wfPerSec > a.w1!.wfPerSec ? b : a));
  const bestP50 = ok.reduce((a, b) => (b.w2!.p50 < a.w2!.p50 ? b : a));
  const dbos = ok.find((r) => r.peer === "dbos" && r.variant === "inproc");
  const find = (workload: string) =>
    rows.find((r) => r.backend === "postgres" && r.workload === workload);
  const figures: PeerRatio[] = [];
  const add = (
    what: string,
    kagzi: number | undefined,
    peer: PeerResult | undefined,
    unit: PeerRatio["unit"],
    atLeast: boolean,
    target: number,
  ) => {
    if (!kagzi || !peer) return;
    const theirs = unit === "wf/s" ? peer.w1!.wfPerSec : peer.w2!.p50;
    const ratio = round(kagzi / theirs, 2);
    figures.push({
      what,
      kagzi,
      peer: theirs,
      peerName: name(peer),
      unit,
      ratio,
      target: `${atLeast ? "≥" : "≤"} ${target}×`,
      met: atLeast ? ratio >= target : ratio <= target,
    });
  };
  for (const w of ["W1 results awaited", "W1 results awaited (in-process)"]) {
    add(w, find(w)?.workflowsPerSec, bestW1, "wf/s", true, 1.5);
  }
  add("W2 p50 three-process", find("W2 latency")?.p50, bestP50, "ms", false, 1);
  add("W2 p50 in-process", find("W2 latency (in-process)")?.p50, dbos, "ms", false, 0.8);
  return figures;
}

/** Kagzi's figures over the peers', one line each, after where the peers' figures came from. */
export function peerRatios(rows: Row[], p: Peers): string[] {
  const figures = peerRatioFigures(rows, p);
  if (!figures.length) return [];
  return [
    `Peers from ${p.file}${
      p.sameRun ? " (run just before)" : " (an earlier run: not one session)"
    }`,
    ...figures.map((f) =>
      `${f.what}: ${f.kagzi} ${f.unit} = ${f.ratio}× ${
        f.what.startsWith("W2 p50 in") ? "DBOS in-process" : "the best peer"
      } (${f.peerName} ${f.peer} ${f.unit}; target ${f.target})`
    ),
  ];
}

/**
 * The ratios of several rounds (peers, then Kagzi, each round): each round's and their median,
 * so a machine that drifts over minutes weighs on both sides alike.
 */
export function roundRatios(rounds: PeerRatio[][]): string[] {
  const byWhat = new Map<string, PeerRatio[]>();
  for (const figures of rounds) {
    for (const f of figures) byWhat.set(f.what, [...byWhat.get(f.what) ?? [], f]);
  }
  return [...byWhat].map(([what, fs]) => {
    const sorted = fs.map((f) => f.ratio).sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const median = round(
      sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
      2,
    );
    const target = fs[0].target;
    const [op, value] = [target[0], Number(target.slice(2, -1))];
    const met = op === "≥" ? median >= value : median <= value;
    return `${what}, by round: ${
      fs.map((f) => `${f.ratio}× (${f.kagzi} vs ${f.peerName} ${f.peer} ${f.unit})`).join(", ")
    }; median ${median}× (target ${target}: ${met ? "met" : "not met"})`;
  });
}
