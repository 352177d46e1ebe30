/** Helpers of the zombie and chaos tests: the journaling worker process and its journal. */
import { spawnDeno, type TestProcess } from "./_process.ts";

const mainModule = new URL("./_zombie_worker.ts", import.meta.url).pathname;

/** One line of the journal written by tests/_zombie_worker.ts. */
export interface JournalEntry {
  /** A step's execution began, or a marker of the workflow body. */
  kind: "step" | "marker";
  run: string;
  step: string;
  pid: number;
  /** Date.now() of the worker process. */
  at: number;
}

/** Every line of the journal. */
export function readEntries(path: string): JournalEntry[] {
  return Deno.readTextFileSync(path).split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Starts a tests/_zombie_worker.ts process journaling to `journal`. */
export function startZombieWorker(addr: string, journal: string): Promise<TestProcess> {
  return spawnDeno(
    ["run", "-A", mainModule, addr],
    { KAGZI_TEST_JOURNAL: journal },
    "worker ready",
    "worker",
  );
}

/** The worker id a worker process printed when it registered. */
export function workerIdOf(w: TestProcess): string {
  const m = w.output().match(/worker ready (\S+)/);
  if (!m) throw new Error(`no worker id in output:\n${w.output()}`);
  return m[1];
}
