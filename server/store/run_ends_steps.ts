/**
 * SQL for completions that carry step outputs (CompleteWorkflowRequest.steps): the outputs of
 * steps the workflow returned after before they were stored, written in the completion's commit
 * and before it. A run completes only when every output it carries was stored by this call; a
 * lost lease, a run paused while its last step ran (the output is stored, the fence moves on,
 * nothing completes) or an output stored before leaves the run as it was, as for a lost lease.
 */
import type { Db, Queryable } from "./db.ts";
import { completeRunCtes, completeRuns, type FinishedRun, type RunOutput } from "./run_ends.ts";
import type { RunRow } from "./runs.ts";
import {
  completeSteps,
  type StepOutput,
  stepOutputCtes,
  stepOutputParams,
} from "./step_results.ts";

/** A completion with the step outputs stored before it in the same commit. */
export interface RunOutputWithSteps extends RunOutput {
  steps?: StepOutput[];
}

/**
 * Completes held runs, storing first the step outputs they carry, in one commit: one statement
 * for a lone completion with one step (the end of most runs), one transaction otherwise.
 * Completions without steps go as {@linkcode completeRuns} writes them.
 */
export async function completeRunsWithSteps(
  db: Db,
  items: RunOutputWithSteps[],
): Promise<(FinishedRun | undefined)[]> {
  if (!items.some((i) => i.steps?.length)) return await completeRuns(db, items);
  if (items.length === 1 && items[0].steps!.length === 1) {
    return [await completeRunWithStep(db, items[0], items[0].steps![0])];
  }
  return await db.transaction(async (tx) => {
    const steps = items.flatMap((item, idx) => (item.steps ?? []).map((s) => ({ idx, s })));
    const stored = await completeSteps(tx, steps.map((x) => x.s), "no key update");
    const refused = new Set<number>();
    steps.forEach((x, i) => {
      if (!stored[i].held || stored[i].attempt === null || stored[i].paused) refused.add(x.idx);
    });
    const ok = items.map((_, idx) => idx).filter((idx) => !refused.has(idx));
    const ended = await completeRuns(tx, ok.map((idx) => items[idx]));
    const byIdx = new Map(ok.map((idx, i) => [idx, ended[i]]));
    return items.map((_, idx) => byIdx.get(idx));
  });
}

/**
 * One completion with one step output in one statement: the run is locked first (as a
 * completion locks it), the step stored as `completeStep` stores it, and the run completed
 * only when the step's row was inserted by this statement.
 */
async function completeRunWithStep(
  db: Queryable,
  item: RunOutputWithSteps,
  step: StepOutput,
): Promise<FinishedRun | undefined> {
  const rows = await db.query<RunRow & { duration_s: number }>(
    `with ${stepOutputCtes("no key update")},
       ${completeRunCtes("$10", "$11", "exists (select 1 from ins)")}
     select * from run`,
    // A jsonb parameter: postgres.js serializes the object itself.
    [...stepOutputParams(step, item), item.output.data, item.output.metadata],
  );
  const row = rows[0];
  return row && { workflow_type: row.workflow_type, duration_s: row.duration_s, row };
}
