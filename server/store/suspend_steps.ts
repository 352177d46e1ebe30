/**
 * A suspension that carries step outputs (SleepRequest.steps): the outputs of steps the workflow
 * went on from before they were stored, stored first and in the suspension's commit. The run
 * suspends only when every output was stored by this call (or, for a held Sleep sent again, by
 * this worker with the same bytes before); a lost lease, another output stored before, or a run
 * paused while its step ran (the output is stored, the fence moves on) leave it held as it was,
 * as for a lost lease.
 */
import type { Db, Queryable } from "./db.ts";
import { suspendRun, type Suspension } from "./queue.ts";
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
    if (stored.some((x) => !x.held || x.paused)) return undefined;
    const before = steps.filter((_, i) => stored[i].attempt === null);
    // Outputs stored before: only a held Sleep sent again may carry them, each its very bytes.
    if (before.length && !(s.hold && await allStoredBefore(tx, before))) return undefined;
    return await suspendRun(tx, s);
  });
}

/** Whether each of `steps` is stored, COMPLETED, by its worker with these very bytes. */
async function allStoredBefore(tx: Queryable, steps: StepOutput[]): Promise<boolean> {
  for (const step of steps) {
    const [namespaceId, runId, , workerId, name, occurrence, output] = stepOutputParams(step);
    const [row] = await tx.query<{ same: boolean }>(
      `select ${sameOutputStored("$3", "$4", "$5", "$6")} as same`,
      [namespaceId, runId, workerId, name, occurrence, output],
    );
    if (!row.same) return false;
  }
  return true;
}

/**
 * A held Sleep sent again (its first call was answered by a server that died while holding it):
 * this worker stored this very output before ($1 namespace, $2 run, then the placeholders of the
 * worker, the step's name, occurrence and output). The suspension itself checks that the run is
 * still RUNNING under the same lease, so the retry holds the run again instead of losing it.
 */
const sameOutputStored = (worker: string, name: string, occurrence: string, output: string) =>
  `exists (select 1 from kagzi_steps d
       where d.namespace_id = $1 and d.run_id = $2 and d.kind = 'FUNCTION' and d.name = ${name}
         and d.occurrence = ${occurrence} and d.status = 'COMPLETED' and d.worker_id = ${worker}
         and d.output = ${output})`;

/**
 * One output and the suspension in one statement (a step, then a sleep: the common case), one
 * round trip instead of a transaction's four. The run, locked as the output is stored, suspends
 * only when the output was stored by it (`ins`); a paused run's status is not RUNNING.
 */
function suspendWithStep(
  db: Db,
  s: Suspension,
  step: StepOutput,
): ReturnType<typeof suspendRun> {
  return suspendRun(db, s, {
    ctes: stepOutputCtes("no key update"),
    // $1 to $4 (namespace, run, fence, worker) are the suspension's own.
    params: stepOutputParams(step, s).slice(4),
    gate: s.hold
      ? `(exists (select 1 from ins) or ${sameOutputStored("$4", "$5", "$6", "$7")})`
      : "exists (select 1 from ins)",
  });
}
