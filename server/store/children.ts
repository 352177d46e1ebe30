/**
 * SQL for child workflows: a CHILD step of the parent holds the child's run id; the trigger
 * of migration 0004 writes the child's outcome into it and wakes the parent.
 */
import { base64, type Queryable } from "./db.ts";
import { openStatuses } from "./runs.ts";
import type { StartFlow } from "./run_starts.ts";
import { stepColumns, type StepKey, type StepRow } from "./steps.ts";

/** The child run a CHILD step starts. */
export interface ChildSpec {
  workflowType: string;
  workflowId: string;
  version: string;
  input: { data: Uint8Array; metadata: Record<string, string> };
  parentClosePolicy: "cancel" | "abandon";
  retryPolicy: unknown;
  /** Its flow control (services/_flow_start.ts). @default none */
  flow?: StartFlow;
}

/**
 * A start refused for good (services/_child_start.ts): no child run; the CHILD step is
 * recorded FAILED with `refusal` (an ErrorDetail as JSON), so the parent's `ctx.child()` throws
 * it, on every replay the same.
 */
export interface RefusedChild {
  refusal: unknown;
}

/** What {@linkcode startChild} did. */
export type StartChildResult =
  | { kind: "lost" }
  | { kind: "conflict"; workflowType: string }
  | { kind: "step"; step: StepRow; started: boolean; alreadyExists: boolean };

/**
 * Starts the child of a held run's CHILD step once, inside the caller's transaction: the
 * step's stored record when it exists; else a new PENDING child run (or the open run that
 * holds the workflow_id) and a WAITING step pointing at it; or, for a refused start, a FAILED
 * step and no run.
 */
export async function startChild(
  tx: Queryable,
  k: StepKey,
  child: ChildSpec | RefusedChild,
): Promise<StartChildResult> {
  const held = await tx.query(
    `select 1 from kagzi_runs
     where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING' for share`,
    [k.namespaceId, k.runId, k.fence],
  );
  if (!held.length) return { kind: "lost" };
  const existing = await tx.query<StepRow>(
    `select ${stepColumns} from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind = 'CHILD' and name = $3 and occurrence = $4`,
    [k.namespaceId, k.runId, k.name, k.occurrence],
  );
  if (existing[0]) {
    return { kind: "step", step: existing[0], started: false, alreadyExists: false };
  }
  if ("refusal" in child) {
    const refused = await tx.query<StepRow>(
      `insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                worker_id, error, finished_at)
       values ($1, $2, 'CHILD', $3, $4, 1, 'FAILED', $5, $6::jsonb, now())
       returning ${stepColumns}`,
      [k.namespaceId, k.runId, k.name, k.occurrence, k.workerId, child.refusal],
    );
    return { kind: "step", step: refused[0], started: false, alreadyExists: false };
  }
  const childRunId = crypto.randomUUID();
  const inserted = await tx.query<{ run_id: string }>(
    `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version, status,
                             retry_policy, parent_run_id, parent_close_policy, id_generation,
                             priority, flow_slots, rate_key)
     select $1, $2, $3, $4,
            coalesce(nullif($5, ''), (select d.version from kagzi_default_versions d
                                      where d.namespace_id = $1 and d.workflow_type = $4), ''),
            'PENDING', $6::jsonb, $7, $8,
            -- A child starts anew once the runs under its workflow id have ended.
            coalesce((select max(x.id_generation) + 1 from kagzi_runs x
                      where x.namespace_id = $1 and x.workflow_id = $3), 0),
            $9, $10::text[], $11
     on conflict do nothing
     returning run_id::text`,
    [
      k.namespaceId,
      childRunId,
      child.workflowId,
      child.workflowType,
      child.version,
      child.retryPolicy,
      k.runId,
      child.parentClosePolicy,
      child.flow?.priority ?? 0,
      child.flow?.slots ?? null,
      child.flow?.rateKey ?? null,
    ],
  );
  let runId = inserted[0]?.run_id;
  if (runId && child.flow?.slots) {
    await tx.query(
      `insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap)
       select $1, $2, s.k, s.c from unnest($3::text[], $4::int[]) s(k, c) order by s.k
       on conflict do nothing`,
      [k.namespaceId, child.workflowType, child.flow.slots, child.flow.caps],
    );
  }
  if (runId) {
    await tx.query(
      `insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       values ($1, $2, 'input', decode($3, 'base64'), $4::jsonb)`,
      [k.namespaceId, runId, base64(child.input.data), child.input.metadata],
    );
  } else {
    // An open run holds the workflow_id: wait for that one (locked, so it cannot end unseen).
    const open = await tx.query<{ run_id: string; workflow_type: string }>(
      `select run_id::text, workflow_type from kagzi_runs
       where namespace_id = $1 and workflow_id = $2
         and status in ${openStatuses}
       for share`,
      [k.namespaceId, child.workflowId],
    );
    if (!open[0]) throw new ChildRaceError();
    if (open[0].workflow_type !== child.workflowType) {
      return { kind: "conflict", workflowType: open[0].workflow_type };
    }
    runId = open[0].run_id;
  }
  const step = await tx.query<StepRow>(
    `insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                              worker_id, child_run_id)
     values ($1, $2, 'CHILD', $3, $4, 1, 'WAITING', $5, $6)
     returning ${stepColumns}`,
    [k.namespaceId, k.runId, k.name, k.occurrence, k.workerId, runId],
  );
  return { kind: "step", step: step[0], started: !!inserted[0], alreadyExists: !inserted[0] };
}

/** The open run holding a child's workflow_id ended while starting; the caller retries. */
export class ChildRaceError extends Error {}
