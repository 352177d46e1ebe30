/**
 * SQL for completions that carry step outputs (CompleteWorkflowRequest.steps): the outputs of
 * steps the workflow returned after before they were stored, written in the completion's commit
 * and before it. A run completes only when every output it carries was stored by this call; a
 * lost lease, a run paused while its last step ran (the output is stored, the fence moves on,
 * nothing completes) or an output stored before leaves the run as it was, as for a lost lease.
 */
import type { Db, Queryable } from "./db.ts";
import { completeRuns, type FinishedRun, type RunOutput } from "./run_ends.ts";
import { runColumns, type RunRow } from "./runs.ts";
import { completeSteps, type StepOutput } from "./step_results.ts";

/** A completion with the step outputs stored before it in the same commit. */
export interface RunOutputWithSteps extends RunOutput {
  steps?: StepOutput[];
}

/** What storing a completion and its steps did; `stored` per step, for metrics. */
export type Finished = FinishedRun & { stepsStored: number };

/**
 * Completes held runs, storing first the step outputs they carry, in one commit: one statement
 * for a lone completion with one step (the end of most runs), one transaction otherwise.
 * Completions without steps go as {@linkcode completeRuns} writes them.
 */
export async function completeRunsWithSteps(
  db: Db,
  items: RunOutputWithSteps[],
): Promise<(Finished | undefined)[]> {
  if (!items.some((i) => i.steps?.length)) {
    return (await completeRuns(db, items)).map((f) => f && { ...f, stepsStored: 0 });
  }
  if (items.length === 1 && items[0].steps!.length === 1) {
    return [await completeRunWithStep(db, items[0], items[0].steps![0])];
  }
  return await db.transaction(async (tx) => {
    const steps = items.flatMap((item, idx) => (item.steps ?? []).map((s) => ({ idx, s })));
    const stored = await completeSteps(tx, steps.map((x) => x.s));
    const refused = new Set<number>();
    steps.forEach((x, i) => {
      if (!stored[i].held || stored[i].attempt === null || stored[i].paused) refused.add(x.idx);
    });
    const ok = items.map((_, idx) => idx).filter((idx) => !refused.has(idx));
    const ended = await completeRuns(tx as Queryable, ok.map((idx) => items[idx]));
    const byIdx = new Map(ok.map((idx, i) => [idx, ended[i]]));
    return items.map((item, idx) => {
      const f = byIdx.get(idx);
      return f && { ...f, stepsStored: item.steps?.length ?? 0 };
    });
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
): Promise<Finished | undefined> {
  const { key } = step;
  if (key.namespaceId !== item.namespaceId || key.runId !== item.runId) {
    throw new Error("a completion's step output must be of its own run");
  }
  const rows = await db.query<RunRow & { duration_s: number }>(
    `with r as (
       select status = 'PAUSED' as paused from kagzi_runs
       where namespace_id = $1 and run_id = $2 and fence = $3 and status in ('RUNNING', 'PAUSED')
       for no key update),
     ins as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                output, output_metadata, output_size, worker_id, started_at,
                                finished_at)
       select $1, $2, 'FUNCTION', $6, $7,
              1 + coalesce((select max(s.attempt) from kagzi_steps s
                            where s.namespace_id = $1 and s.run_id = $2 and s.kind = 'FUNCTION'
                              and s.name = $6 and s.occurrence = $7), 0),
              'COMPLETED', $8, $9::jsonb, octet_length($8), $10,
              coalesce($11::timestamptz, now()), now()
       from r
       on conflict do nothing
       returning attempt),
     -- Paused while the step ran: its output is stored, the fence moves on, nothing completes.
     unhold as (
       update kagzi_runs set fence = fence + 1
       where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'PAUSED'
         and exists (select 1 from r)),
     run as (
       update kagzi_runs r
       set status = 'COMPLETED', finished_at = now(), updated_at = now(), locked_until = null
       where r.namespace_id = $1 and r.run_id = $2 and r.fence = $3 and r.status = 'RUNNING'
         and exists (select 1 from ins)
       returning ${runColumns},
                 extract(epoch from r.finished_at - r.created_at)::float8 as duration_s),
     output as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select run.namespace_id, run.run_id::uuid, 'output', $4, $5::jsonb from run
       on conflict (namespace_id, run_id, kind) do update set data = excluded.data,
                                                             metadata = excluded.metadata)
     select * from run`,
    [
      item.namespaceId,
      item.runId,
      item.fence,
      item.output.data,
      // jsonb parameters: postgres.js serializes the objects itself.
      item.output.metadata,
      key.name,
      key.occurrence,
      step.output.data,
      step.output.metadata,
      key.workerId,
      step.startedAt?.toISOString() ?? null,
    ],
  );
  const row = rows[0];
  return row &&
    { workflow_type: row.workflow_type, duration_s: row.duration_s, row, stepsStored: 1 };
}
