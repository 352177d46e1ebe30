/** Worker subprocesses for crash and shutdown tests. */
import { spawnDeno, type TestProcess } from "./_process.ts";

const mainModule = new URL("./_worker_main.ts", import.meta.url).pathname;

/** A running worker process. */
export type WorkerProcess = TestProcess;

/** Options of {@linkcode startWorker}. */
export interface WorkerProcessOptions {
  types?: string[];
  journal?: string;
  namespace?: string;
  maxConcurrent?: number;
  shutdownTimeout?: string;
  /** The worker's `holdSleeps`. */
  holdSleeps?: string;
}

/** Spawns a worker process and waits until it has registered. */
export async function startWorker(
  addr: string,
  options: WorkerProcessOptions = {},
): Promise<WorkerProcess> {
  const env: Record<string, string> = {};
  if (options.journal) env.KAGZI_TEST_JOURNAL = options.journal;
  if (options.namespace) env.KAGZI_TEST_NAMESPACE = options.namespace;
  if (options.maxConcurrent) env.KAGZI_TEST_MAX_CONCURRENT = String(options.maxConcurrent);
  if (options.shutdownTimeout) env.KAGZI_TEST_SHUTDOWN_TIMEOUT = options.shutdownTimeout;
  if (options.holdSleeps) env.KAGZI_TEST_HOLD_SLEEPS = options.holdSleeps;
  return await spawnDeno(
    ["run", "-A", mainModule, addr, ...(options.types ? [options.types.join(",")] : [])],
    env,
    "worker ready",
    "worker",
  );
}

/** The journal's entries: one per real step execution. */
export function readJournal(
  path: string,
): { run: string; step: string; pid: number; at: number }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Server flags for crash tests: the given lease, heartbeats every 500 ms, ticks every 200 ms. */
export const leaseFlags = (leaseMs: number): string[] => [
  "--lease-ms",
  String(leaseMs),
  "--heartbeat-interval-ms",
  "500",
  "--tick-interval-ms",
  "200",
];

/** A fresh journal file, removed on dispose. */
export async function tempJournal(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempFile({ prefix: "kagzi_journal_", suffix: ".jsonl" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path).catch(() => {});
    },
  };
}

/** Polls `cond` every 25 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
