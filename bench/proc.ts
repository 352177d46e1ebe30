/** Child processes of the benchmark: the server, worker processes and the in-process run. */
import { parseMetrics, sleep, type Snapshot } from "./common.ts";

const root = new URL("../", import.meta.url).pathname;

export interface Proc {
  child: Deno.ChildProcess;
  /** stdout and stderr as they came. */
  out: () => string;
  /** stdout alone. */
  stdout: () => string;
  /** Resolves with the first match of `re` in output printed after this call. */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

/** `deno <args>` in the repository root; `echo` copies its stderr to ours. */
export function spawn(args: string[], options: { echo?: boolean } = {}): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    cwd: root,
  }).spawn();
  let out = "";
  let stdout = "";
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
  const pump = async (s: ReadableStream<Uint8Array>, isStdout: boolean) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) {
      out += c;
      if (isStdout) stdout += c;
      else if (options.echo) Deno.stderr.writeSync(new TextEncoder().encode(c));
      check();
    }
  };
  pump(child.stdout, true);
  pump(child.stderr, false);
  return {
    child,
    out: () => out,
    stdout: () => stdout,
    waitFor: (re, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${re}:\n${out.slice(-2000)}`));
        }, ms);
        const w = {
          re,
          from: out.length,
          resolve: (m: RegExpMatchArray) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.push(w);
        check();
      }),
  };
}

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** KAGZI_BENCH_PROFILE=1 writes V8 CPU profiles of server and workers to bench/results/. */
const prof = Deno.env.get("KAGZI_BENCH_PROFILE")
  ? ["--cpu-prof", "--cpu-prof-dir", "bench/results/profiles"]
  : [];

export interface ServerProc extends Proc {
  url: string;
  /** Claim, match and start counters from its /metrics. */
  metrics: () => Promise<Pick<Snapshot, "claims" | "matched" | "started" | "rpcs">>;
}

/** A server process on a free port, once it is ready. */
export async function startServer(
  db: { databaseUrl: string } | { dataDir: string },
): Promise<ServerProc> {
  const port = freePort();
  const proc = spawn([
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
    ...("databaseUrl" in db ? ["--database-url", db.databaseUrl] : ["--data-dir", db.dataDir]),
  ]);
  await proc.waitFor(/ ready: /);
  const url = `http://127.0.0.1:${port}`;
  const metrics = async () => {
    const res = await fetch(`${url}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${await res.text()}`);
    return parseMetrics(await res.text());
  };
  return { ...proc, url, metrics };
}

/** Starts a worker process; `ready` resolves once it polls. */
export function startWorker(
  url: string,
  maxConcurrent = 50,
  workers = 1,
): { proc: Proc; ready: Promise<void> } {
  const args = [url, String(maxConcurrent), String(workers)];
  const proc = spawn(["run", "-A", ...prof, "bench/worker.ts", ...args]);
  const ready = proc.waitFor(/worker ready/, 120_000).then(() => {});
  return { proc, ready };
}

export interface WorkerStats {
  completed: number;
  rpcs: Record<string, number>;
}

export const sumRpcs = (s: WorkerStats) => Object.values(s.rpcs).reduce((a, b) => a + b, 0);

/** A worker process's stats (it prints them on SIGUSR1). */
export async function workerStats(worker: Proc): Promise<WorkerStats> {
  const waiting = worker.waitFor(/stats (\{.*\})\n/, 10_000);
  Deno.kill(worker.child.pid, "SIGUSR1");
  return JSON.parse((await waiting)[1]);
}

/** Polls a worker's stats until it has completed `target` runs. */
export async function waitCompleted(
  worker: Proc,
  target: number,
  timeoutMs: number,
): Promise<WorkerStats> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await workerStats(worker);
    if (s.completed >= target) return s;
    if (Date.now() > end) throw new Error(`only ${s.completed} of ${target} workflows completed`);
    await sleep(5);
  }
}

/** SIGTERM and wait for the exit. */
export async function stop(proc: Proc): Promise<void> {
  try {
    proc.child.kill("SIGTERM");
  } catch {
    // already gone
  }
  await proc.child.status;
}
