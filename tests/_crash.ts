/** Helpers shared by the crash tests: the backend, short leases, journal reading and checks. */
import assert from "node:assert/strict";
import { type StepAttemptInfo } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { leaseFlags, readJournal, type WorkerProcess } from "./_worker.ts";

export const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

/** Short leases so a lost worker's runs are recovered in ~2-3 s. */
export const leaseMs = 2_000;
export const shortLeases = leaseFlags(leaseMs);

/** Clock slack between the worker processes and the database (same machine). */
export const slackMs = 5;

export type Entry = ReturnType<typeof readJournal>[number];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The journal entries of one run, in execution order. */
export function entriesOf(journal: string, runId: string): Entry[] {
  return readJournal(journal).filter((e) => e.run === runId).sort((a, b) => a.at - b.at);
}

/** The worker id a worker process printed when it registered. */
export function workerIdOf(w: WorkerProcess): string {
  const m = w.output().match(/worker ready (\S+)/);
  assert.ok(m, `no worker id in output:\n${w.output()}`);
  return m[1];
}

/** The COMPLETED function-step rows of a run, by step name (asserting one per name). */
export function completedSteps(attempts: StepAttemptInfo[]): Map<string, StepAttemptInfo> {
  const done = new Map<string, StepAttemptInfo>();
  for (const a of attempts) {
    if (a.kind !== "function" || a.status !== "COMPLETED") continue;
    assert.ok(!done.has(`${a.name}#${a.occurrence}`), `step ${a.name} stored twice`);
    done.set(`${a.name}#${a.occurrence}`, a);
  }
  return done;
}

/**
 * Checks that no execution of a step started after its output was stored: a memoized step
 * is replayed from storage, never run again.
 */
export function assertNoRunAfterStored(
  entries: Entry[],
  stored: Map<string, StepAttemptInfo>,
): void {
  for (const e of entries) {
    const row = stored.get(`${e.step}#1`);
    assert.ok(row, `step ${e.step} of ${e.run} ran but has no stored output`);
    assert.ok(row.finishedAt, `stored step ${e.step} has no finished_at`);
    assert.ok(
      e.at <= row.finishedAt.getTime() + slackMs,
      `step ${e.step} of ${e.run} ran at ${e.at} (pid ${e.pid}), after its output was stored at ${row.finishedAt.getTime()}`,
    );
  }
}
