/**
 * SQL for parked runs (migration 0007): a held run parks when its replay asked for another step
 * than its history recorded; an operator resumes it, as it is or "from here" (the recorded
 * steps the replay did not ask for are set aside into kagzi_superseded_steps). And paused runs
 * (migration 0008): held by an operator, resumed by one.
 */
import type { Queryable } from "./db.ts";
import { type ParkedJson, runColumns, type RunRow } from "./runs.ts";

/** Parks a run held with `fence`; the parked row, or undefined when the lease is lost. */
export async function parkRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
  fence: string,
  parked: ParkedJson,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `update kagzi_runs r
     set status = 'PARKED', parked = $4::jsonb, worker_id = null, locked_until = null,
         wake_up_at = null, wake_pending = false, available_at = 'infinity', updated_at = now()
     where r.namespace_id = $1 and r.run_id = $2 and r.fence = $3 and r.status = 'RUNNING'
     returning ${runColumns}`,
    [namespaceId, runId, fence, parked],
  );
  return rows[0];
}

/**
 * Makes a PARKED run due now (PENDING). With `fromHere`, the steps its replay had not asked
 * for move to kagzi_superseded_steps, and the signals their waits had taken go back to the
 * mailbox, so the code runs on from where it parked (a new wait takes them again). One
 * statement: all of it or none. Undefined when the run is not PARKED.
 */
export async function resumeRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
  fromHere: boolean,
): Promise<{ row: RunRow; supersededSteps: number } | undefined> {
  const rows = await db.query<RunRow & { superseded_steps: number }>(
    `with run as (
       update kagzi_runs r
       set status = 'PENDING', available_at = now(), parked = null, updated_at = now()
       from kagzi_runs old
       where r.namespace_id = $1 and r.run_id = $2 and r.status = 'PARKED'
         and old.namespace_id = r.namespace_id and old.run_id = r.run_id
       returning ${runColumns}, old.parked as was),
     unasked as (
       select u.kind, u.name, u.occurrence
       from run, jsonb_to_recordset(coalesce(run.was -> 'unasked', '[]'::jsonb))
         as u(kind text, name text, occurrence int)
       where $3),
     set_aside as (
       delete from kagzi_steps s using unasked u, run
       where s.namespace_id = $1 and s.run_id = $2 and s.kind = u.kind and s.name = u.name
         and s.occurrence = u.occurrence
       returning s.*),
     kept as (
       insert into kagzi_superseded_steps select a.*, now() from set_aside a),
     returned as (
       update kagzi_signals g set consumed_at = null, consumed_by = null
       from set_aside a
       where g.namespace_id = $1 and g.run_id = $2 and a.kind = 'SIGNAL'
         and a.status = 'COMPLETED' and g.name = a.name and g.consumed_by = a.occurrence)
     select run.*, (select count(*)::int from set_aside) as superseded_steps from run`,
    [namespaceId, runId, fromHere],
  );
  const r = rows[0];
  if (!r) return undefined;
  const { superseded_steps, ...row } = r as RunRow & { superseded_steps: number; was?: unknown };
  delete (row as { was?: unknown }).was;
  return { row, supersededSteps: superseded_steps };
}

/**
 * Pauses an open run that is not held otherwise (PENDING, RUNNING or SLEEPING): nothing claims
 * it. A RUNNING run keeps its fence, so its worker may still store the output of the step in
 * flight (step_results.ts), which moves the fence on: its next write is refused. Undefined when
 * the run is missing or has another status.
 */
export async function pauseRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `update kagzi_runs r
     set status = 'PAUSED', worker_id = null, locked_until = null, wake_up_at = null,
         wake_pending = false, available_at = 'infinity', updated_at = now()
     where r.namespace_id = $1 and r.run_id = $2 and r.status in ('PENDING', 'RUNNING', 'SLEEPING')
     returning ${runColumns}`,
    [namespaceId, runId],
  );
  return rows[0];
}

/**
 * Makes a PAUSED run due now (PENDING): its replay finds its stored steps, and its sleeps and
 * waits suspend it again if they are not due. Undefined when the run is not PAUSED.
 */
export async function unpauseRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `update kagzi_runs r
     set status = 'PENDING', available_at = now(), updated_at = now()
     where r.namespace_id = $1 and r.run_id = $2 and r.status = 'PAUSED'
     returning ${runColumns}`,
    [namespaceId, runId],
  );
  return rows[0];
}

/**
 * Pauses workflow type `type` in a namespace: marks it (no run of it is claimed) and pauses its
 * open runs that are not held otherwise. How many runs it paused.
 */
export async function pauseType(db: Queryable, namespaceId: string, type: string): Promise<number> {
  const rows = await db.query<{ paused: number }>(
    `with mark as (
       insert into kagzi_paused_types (namespace_id, workflow_type) values ($1, $2)
       on conflict do nothing),
     runs as (
       update kagzi_runs r
       set status = 'PAUSED', worker_id = null, locked_until = null, wake_up_at = null,
           wake_pending = false, available_at = 'infinity', updated_at = now()
       where r.namespace_id = $1 and r.workflow_type = $2
         and r.status in ('PENDING', 'RUNNING', 'SLEEPING')
       returning 1)
     select count(*)::int as paused from runs`,
    [namespaceId, type],
  );
  return rows[0].paused;
}

/** Unmarks a paused type and makes its PAUSED runs due now. How many runs it resumed. */
export async function resumeType(
  db: Queryable,
  namespaceId: string,
  type: string,
): Promise<number> {
  const rows = await db.query<{ resumed: number }>(
    `with unmark as (
       delete from kagzi_paused_types where namespace_id = $1 and workflow_type = $2),
     runs as (
       update kagzi_runs r
       set status = 'PENDING', available_at = now(), updated_at = now()
       where r.namespace_id = $1 and r.workflow_type = $2 and r.status = 'PAUSED'
       returning 1)
     select count(*)::int as resumed from runs`,
    [namespaceId, type],
  );
  return rows[0].resumed;
}
