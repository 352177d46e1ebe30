/**
 * A suspension that carries step outputs (SleepRequest.steps): the outputs of steps the workflow
 * went on from before they were stored, stored first and in the suspension's commit. The run
 * suspends only when every output was stored by this call; a lost lease, an output stored before,
 * or a run paused while its step ran (the output is stored, the fence moves on) leave it held
 * as it was, as for a lost lease.
 */
import type { Db } from "./db.ts";
import { type SleepEntry, suspendRun } from "./queue.ts";
import { completeSteps, type StepOutput } from "./step_results.ts";

/** Where a suspension goes: its run, under its lease, with what it records. */
export interface Suspension {
  namespaceId: string;
  runId: string;
  fence: string;
  workerId: string;
  sleeps: SleepEntry[];
  resumeAt: Date | null;
}

/**
 * Stores `steps`, then suspends the run, in one transaction; undefined when the run was not
 * suspended. `workflowType` is the run's, for the step metrics.
 */
export async function suspendRunWithSteps(
  db: Db,
  s: Suspension,
  steps: StepOutput[],
): Promise<{ due: boolean; workflowType: string } | undefined> {
  return await db.transaction(async (tx) => {
    const stored = await completeSteps(tx, steps);
    if (stored.some((x) => !x.held || x.attempt === null || x.paused)) return undefined;
    const res = await suspendRun(
      tx,
      s.namespaceId,
      s.runId,
      s.fence,
      s.workerId,
      s.sleeps,
      s.resumeAt,
    );
    return res && { due: res.due, workflowType: stored[0].workflow_type ?? "" };
  });
}
