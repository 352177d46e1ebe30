/**
 * SQL for RetryWorkflow: a new run copied from a finished one, optionally with the stored steps
 * before a step (a rerun from that step). One statement per function.
 */
import type { Queryable } from "./db.ts";
import type { RunStatus } from "./runs.ts";

/**
 * Inserts a PENDING run with the type, version, input, context and retry policy of the
 * terminal run `runId`, the same workflow_id and `retried_from_run_id = runId`. Returns
 * nothing when that run is missing or not terminal, or when a live run holds its workflow_id.
 */
export async function insertRetryRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
  newRunId: string,
): Promise<{ run_id: string; workflow_id: string; status: RunStatus } | undefined> {
  const rows = await db.query<{ run_id: string; workflow_id: string; status: RunStatus }>(
    `with ins as (
       insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version, status,
                               retry_policy, retried_from_run_id, tags, priority, flow_slots,
                               rate_key, id_generation)
       select r.namespace_id, $3::uuid, r.workflow_id, r.workflow_type, r.version, 'PENDING',
              r.retry_policy, r.run_id, r.tags, r.priority, r.flow_slots, r.rate_key,
              (select max(x.id_generation) + 1 from kagzi_runs x
               where x.namespace_id = r.namespace_id and x.workflow_id = r.workflow_id)
       from kagzi_runs r
       where r.namespace_id = $1 and r.run_id = $2
         and r.status in ('COMPLETED', 'FAILED', 'CANCELLED')
       on conflict do nothing
       returning namespace_id, run_id, workflow_id, status),
     payloads as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select ins.namespace_id, ins.run_id, p.kind, p.data, p.metadata
       from ins join kagzi_payloads p on p.namespace_id = ins.namespace_id and p.run_id = $2
                                     and p.kind in ('input', 'context'))
     select run_id::text, workflow_id, status from ins`,
    [namespaceId, runId, newRunId],
  );
  return rows[0];
}

/** The step names of run `runId` (any kind), in the order of their first attempt. */
export async function stepNames(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `select name from kagzi_steps where namespace_id = $1 and run_id = $2
     group by name order by min(started_at), name`,
    [namespaceId, runId],
  );
  return rows.map((r) => r.name);
}

/**
 * Copies to run `newRunId` the COMPLETED step attempts of run `oldRunId` that began before its
 * first attempt of any step named `fromStep`; returns how many.
 */
export async function copyStepsBefore(
  db: Queryable,
  namespaceId: string,
  oldRunId: string,
  newRunId: string,
  fromStep: string,
): Promise<number> {
  const rows = await db.query<{ copied: number }>(
    `with copied as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                output, output_metadata, error, worker_id, output_size,
                                started_at, finished_at, retry_at, wake_up_at, child_run_id,
                                token_id, waits)
       select s.namespace_id, $3, s.kind, s.name, s.occurrence, s.attempt, s.status,
              s.output, s.output_metadata, s.error, s.worker_id, s.output_size,
              s.started_at, s.finished_at, s.retry_at, s.wake_up_at, s.child_run_id,
              -- a completed token of the new run: its own id (ids are unique), the same value
              case when s.token_id is not null then gen_random_uuid() end, s.waits
       from kagzi_steps s
       where s.namespace_id = $1 and s.run_id = $2 and s.status = 'COMPLETED'
         and s.started_at < (select min(f.started_at) from kagzi_steps f
                             where f.namespace_id = $1 and f.run_id = $2 and f.name = $4)
       returning 1)
     select count(*)::int as copied from copied`,
    [namespaceId, oldRunId, newRunId, fromStep],
  );
  return rows[0].copied;
}

/** The runs started from run `runId` by RetryWorkflow, oldest first. */
export async function listReruns(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<string[]> {
  const rows = await db.query<{ run_id: string }>(
    `select run_id::text from kagzi_runs
     where namespace_id = $1 and retried_from_run_id = $2 order by seq`,
    [namespaceId, runId],
  );
  return rows.map((r) => r.run_id);
}
