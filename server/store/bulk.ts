/**
 * SQL for bulk operations (migration 0009): create a job, claim one (lease and fence, as runs),
 * work one batch of it (one transaction: lock the job, check the fence, act on the next runs
 * after its cursor, move the cursor), get and cancel one.
 */
import type { Db, Queryable } from "./db.ts";
import type { RunStatus } from "./runs.ts";
import { lockedFirst, lockSlotsOf } from "./slot_locks.ts";

/** What a bulk operation does to each selected run. */
export type BulkAction = "RERUN" | "CANCEL" | "PAUSE" | "RESUME";

/** A job's filter as stored (absent fields match any run). */
export interface BulkFilterJson {
  status?: RunStatus;
  workflowType?: string;
  version?: string;
  /** ISO time: created at or after. */
  since?: string;
  /** ISO time: created before. */
  until?: string;
  tags?: Record<string, string>;
}

/** A row of kagzi_bulk_operations. */
export interface BulkRow {
  namespace_id: string;
  operation_id: string;
  action: BulkAction;
  filter: BulkFilterJson;
  reason: string;
  status: "RUNNING" | "COMPLETED" | "CANCELLED";
  total: string;
  done: string;
  acted: string;
  skipped: string;
  fence: string;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const columns = `namespace_id, operation_id::text, action, filter, reason, status, total::text,
  done::text, acted::text, skipped::text, fence::text, created_at, updated_at, finished_at`;

/** The runs `r` that filter `f` (an SQL jsonb expression) selects. */
const filterSql = (f: string) =>
  `(${f} ->> 'status' is null or r.status = ${f} ->> 'status')
  and (${f} ->> 'workflowType' is null or r.workflow_type = ${f} ->> 'workflowType')
  and (${f} ->> 'version' is null or r.version = ${f} ->> 'version')
  and (${f} ->> 'since' is null or r.created_at >= (${f} ->> 'since')::timestamptz)
  and (${f} ->> 'until' is null or r.created_at < (${f} ->> 'until')::timestamptz)
  and (${f} -> 'tags' is null or r.tags @> (${f} -> 'tags'))`;

/** Inserts a RUNNING job over the runs that exist now and match; returns it. */
export async function createOperation(
  db: Queryable,
  namespaceId: string,
  operationId: string,
  action: BulkAction,
  filter: BulkFilterJson,
  reason: string,
): Promise<BulkRow> {
  const rows = await db.query<BulkRow>(
    `with m as (select coalesce(max(seq), 0) as s from kagzi_runs),
     n as (select count(*) as c from kagzi_runs r, m
           where r.namespace_id = $1 and r.seq <= m.s and ${filterSql("$4::jsonb")})
     insert into kagzi_bulk_operations
       (namespace_id, operation_id, action, filter, reason, total, max_seq)
     select $1, $2::uuid, $3, $4::jsonb, $5, n.c, m.s from m, n
     returning ${columns}`,
    [namespaceId, operationId, action, filter, reason],
  );
  return rows[0];
}

/** One job, or undefined. */
export async function getOperation(
  db: Queryable,
  namespaceId: string,
  operationId: string,
): Promise<BulkRow | undefined> {
  const rows = await db.query<BulkRow>(
    `select ${columns} from kagzi_bulk_operations
     where namespace_id = $1 and operation_id = $2::uuid`,
    [namespaceId, operationId],
  );
  return rows[0];
}

/** Stops a RUNNING job (its next batch finds it so and stops); undefined when not RUNNING. */
export async function cancelOperation(
  db: Queryable,
  namespaceId: string,
  operationId: string,
): Promise<BulkRow | undefined> {
  const rows = await db.query<BulkRow>(
    `update kagzi_bulk_operations
     set status = 'CANCELLED', finished_at = now(), updated_at = now(), locked_until = null
     where namespace_id = $1 and operation_id = $2::uuid and status = 'RUNNING'
     returning ${columns}`,
    [namespaceId, operationId],
  );
  return rows[0];
}

/**
 * Takes the lease of a RUNNING job whose lease is free or expired (`operationId`: that one,
 * else any), bumping its fence so a former holder's batches are refused.
 */
export async function claimOperation(
  db: Queryable,
  owner: string,
  leaseMs: number,
  operationId: string | null = null,
): Promise<BulkRow | undefined> {
  const rows = await db.query<BulkRow>(
    `update kagzi_bulk_operations j
     set owner = $1, fence = fence + 1, locked_until = now() + $2 * interval '1 millisecond',
         updated_at = now()
     where (j.namespace_id, j.operation_id) = (
       select namespace_id, operation_id from kagzi_bulk_operations
       where status = 'RUNNING' and (locked_until is null or locked_until < now())
         and ($3::uuid is null or operation_id = $3::uuid)
       order by created_at limit 1 for update skip locked)
     returning ${columns}`,
    [owner, leaseMs, operationId],
  );
  return rows[0];
}

/** What one batch did. */
export interface BatchResult {
  /** False: the lease was lost or the job is no longer RUNNING; nothing was done. */
  held: boolean;
  /** The job has no runs left (now COMPLETED). */
  finished: boolean;
  /** The runs acted on, with their type (cancelled runs are announced as ended). */
  acted: { namespace_id: string; run_id: string; workflow_type: string }[];
}

// Per action: the runs of `picked` it changes, returning namespace_id, run_id, workflow_type.
// $1 namespace; CTE err: the cancel error (its subjectId is set per run).
const actionSql: Record<BulkAction, string> = {
  // The runs locked in run order, then their slots (as completions lock them: no deadlock).
  CANCEL: `with held as (
      select r.namespace_id, r.run_id, r.workflow_type, r.flow_slots from kagzi_runs r
      join picked p on r.namespace_id = $1 and r.run_id = p.run_id
      where r.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED')
      order by r.namespace_id, r.run_id
      for no key update of r),
    ${lockSlotsOf("slots", "held")}
    update kagzi_runs r
    set status = 'CANCELLED', finished_at = now(), updated_at = now(), locked_until = null,
        error = jsonb_set((select e from err), '{subjectId}', to_jsonb(r.run_id::text))
    from held p where r.namespace_id = $1 and r.run_id = p.run_id
      and r.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED')
      and ${lockedFirst("slots")}
    returning r.namespace_id, r.run_id::text, r.workflow_type`,
  PAUSE: `update kagzi_runs r
    set status = 'PAUSED', worker_id = null, locked_until = null, wake_up_at = null,
        wake_pending = false, available_at = 'infinity', updated_at = now()
    from picked p where r.namespace_id = $1 and r.run_id = p.run_id
      and r.status in ('PENDING', 'RUNNING', 'SLEEPING')
    returning r.namespace_id, r.run_id::text, r.workflow_type`,
  RESUME: `update kagzi_runs r
    set status = 'PENDING', available_at = now(), updated_at = now()
    from picked p where r.namespace_id = $1 and r.run_id = p.run_id and r.status = 'PAUSED'
    returning r.namespace_id, r.run_id::text, r.workflow_type`,
  // As RetryWorkflow (store/retries.ts), for many runs at once; a run whose workflow_id is held
  // (or taken by another picked run) conflicts and is skipped.
  RERUN: `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version,
      status, retry_policy, retried_from_run_id, tags, priority, flow_slots, rate_key,
      id_generation)
    select r.namespace_id, gen_random_uuid(), r.workflow_id, r.workflow_type, r.version,
      'PENDING', r.retry_policy, r.run_id, r.tags, r.priority, r.flow_slots, r.rate_key,
      (select max(x.id_generation) + 1 from kagzi_runs x
       where x.namespace_id = r.namespace_id and x.workflow_id = r.workflow_id)
    from kagzi_runs r join picked p on r.namespace_id = $1 and r.run_id = p.run_id
    where r.status in ('COMPLETED', 'FAILED', 'CANCELLED')
    on conflict do nothing
    returning namespace_id, run_id::text, workflow_type, retried_from_run_id`,
};

const payloadCopySql = `, payloads as (
    insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
    select a.namespace_id, a.run_id::uuid, p.kind, p.data, p.metadata
    from acted a join kagzi_payloads p on p.namespace_id = a.namespace_id
      and p.run_id = a.retried_from_run_id and p.kind in ('input', 'context'))`;

/**
 * Works the next batch of job `operationId` held with `fence`: at most `size` runs after its
 * cursor. All of it commits or none.
 */
export async function runBatch(
  db: Db,
  namespaceId: string,
  operationId: string,
  fence: string,
  size: number,
  leaseMs: number,
  cancelError: unknown,
): Promise<BatchResult> {
  return await db.transaction(async (tx) => {
    const job = (await tx.query<{ cursor: string; max_seq: string; action: BulkAction }>(
      `select cursor::text, max_seq::text, action from kagzi_bulk_operations
       where namespace_id = $1 and operation_id = $2::uuid and fence = $3 and status = 'RUNNING'
       for update`,
      [namespaceId, operationId, fence],
    ))[0];
    if (!job) return { held: false, finished: false, acted: [] };
    const out =
      (await tx.query<{ picked: number; last: string | null; acted: BatchResult["acted"] }>(
        `with err as (select $2::jsonb as e),
       picked as (
         select r.run_id, r.seq from kagzi_runs r, kagzi_bulk_operations j
         where j.namespace_id = $1 and j.operation_id = $3::uuid
           and r.namespace_id = $1 and r.seq > $4 and r.seq <= $5 and ${filterSql("j.filter")}
         order by r.seq limit $6),
       acted as (${actionSql[job.action]})
       ${job.action === "RERUN" ? payloadCopySql : ""}
       select (select count(*)::int from picked) as picked,
              (select max(seq)::text from picked) as last,
              coalesce((select jsonb_agg(jsonb_build_object('namespace_id', namespace_id,
                 'run_id', run_id, 'workflow_type', workflow_type)) from acted), '[]') as acted`,
        [namespaceId, cancelError, operationId, job.cursor, job.max_seq, size],
      ))[0];
    const finished = out.picked < size;
    await tx.query(
      `update kagzi_bulk_operations
       set cursor = coalesce($3::bigint, cursor), done = done + $4, acted = acted + $5,
           skipped = skipped + $4 - $5, updated_at = now(),
           locked_until = case when $6 then null else now() + $7 * interval '1 millisecond' end,
           status = case when $6 then 'COMPLETED' else status end,
           finished_at = case when $6 then now() else finished_at end
       where namespace_id = $1 and operation_id = $2::uuid`,
      [namespaceId, operationId, out.last, out.picked, out.acted.length, finished, leaseMs],
    );
    return { held: true, finished, acted: out.acted };
  });
}
