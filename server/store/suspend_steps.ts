/**
 * A suspension that carries step outputs (SleepRequest.steps): the outputs of steps the workflow
 * went on from before they were stored, stored first and in the suspension's commit. The run
 * suspends only when every output was stored by this call; a lost lease, an output stored before,
 * or a run paused while its step ran (the output is stored, the fence moves on) leave it held
 * as it was, as for a lost lease.
 */
import type { Db } from "./db.ts";
import { suspendCtes, suspendRun, type Suspension } from "./queue.ts";
import {
  completeSteps,
  type StepOutput,
  stepOutputCtes,
  stepOutputParams,
} from "./step_results.ts";

/** Stores `steps`, then suspends the run, in one transaction; undefined when it did not suspend. */
export async function suspendRunWithSteps(
  db: Db,
  s: Suspension,
  steps: StepOutput[],
): ReturnType<typeof suspendRun> {
  if (steps.length === 1) return await suspendWithStep(db, s, steps[0]);
  return await db.transaction(async (tx) => {
    const stored = await completeSteps(tx, steps, "no key update");
    if (stored.some((x) => !x.held || x.attempt === null || x.paused)) return undefined;
    return await suspendRun(tx, s);
  });
}

/**
 * One output and the suspension in one statement (a step, then a sleep: the common case), one
 * round trip instead of a transaction's four. The run, locked as the output is stored, suspends
 * only when the output was stored by it (`ins`); a paused run's status is not RUNNING.
 */
async function suspendWithStep(
  db: Db,
  s: Suspension,
  step: StepOutput,
): ReturnType<typeof suspendRun> {
  const [row] = await db.query<{ held: boolean; due: boolean; workflow_type: string | null }>(
    `with ${stepOutputCtes("no key update")},
     ${
      suspendCtes(
        { resumeAt: "$10", names: "$11", occurrences: "$12", wakeUps: "$13" },
        "\n         and exists (select 1 from ins)",
      )
    }
     select exists (select 1 from run) as held, coalesce((select due from run), false) as due,
            (select workflow_type from run) as workflow_type`,
    [
      ...stepOutputParams(step, s),
      s.resumeAt,
      s.sleeps.map((x) => x.name),
      s.sleeps.map((x) => x.occurrence),
      s.sleeps.map((x) => x.wakeUpAt.toISOString()),
    ],
  );
  return row.held ? { due: row.due, workflowType: row.workflow_type ?? "" } : undefined;
}
