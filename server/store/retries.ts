/** SQL for RetryWorkflow: a new run copied from a finished one. One statement per function. */
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
                               retry_policy, retried_from_run_id, id_generation)
       select r.namespace_id, $3::uuid, r.workflow_id, r.workflow_type, r.version, 'PENDING',
              r.retry_policy, r.run_id,
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
