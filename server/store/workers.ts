/** SQL for workers: register, heartbeat, deregister, list. */
import type { Queryable } from "./db.ts";

/** A row of kagzi_workers. */
export interface WorkerRow {
  namespace_id: string;
  worker_id: string;
  workflow_types: { workflow_type: string; versions: string[] }[];
  hostname: string;
  pid: number;
  sdk_version: string;
  version: string;
  labels: Record<string, string>;
  max_concurrent: number;
  default_retry_policy: unknown;
  status: "ONLINE" | "DRAINING" | "OFFLINE";
  active_count: number;
  completed_count: string;
  failed_count: string;
  registered_at: Date;
  last_heartbeat_at: Date;
  heartbeat_age_ms: number;
}

const columns = `namespace_id, worker_id::text, workflow_types, hostname, pid, sdk_version, version,
  labels, max_concurrent, default_retry_policy, status, active_count, completed_count::text,
  failed_count::text, registered_at, last_heartbeat_at,
  (extract(epoch from (now() - last_heartbeat_at)) * 1000)::float8 as heartbeat_age_ms`;

/** What Register stores. */
export interface NewWorker {
  namespaceId: string;
  workerId: string;
  workflowTypes: { workflow_type: string; versions: string[] }[];
  hostname: string;
  pid: number;
  sdkVersion: string;
  version: string;
  labels: Record<string, string>;
  maxConcurrent: number;
  defaultRetryPolicy: unknown;
}

/** Inserts an ONLINE worker. */
export async function insertWorker(db: Queryable, w: NewWorker): Promise<WorkerRow> {
  const rows = await db.query<WorkerRow>(
    `insert into kagzi_workers (namespace_id, worker_id, workflow_types, hostname, pid, sdk_version,
                                version, labels, max_concurrent, default_retry_policy, status)
     values ($1, $2, $3::jsonb, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, 'ONLINE')
     returning ${columns}`,
    [
      w.namespaceId,
      w.workerId,
      w.workflowTypes,
      w.hostname,
      w.pid,
      w.sdkVersion,
      w.version,
      w.labels,
      w.maxConcurrent,
      w.defaultRetryPolicy ?? null,
    ],
  );
  return rows[0];
}

/**
 * Records a heartbeat; a worker marked OFFLINE while silent comes back ONLINE, one that
 * deregistered does not (its heartbeat sent before deregistering can arrive after).
 */
export async function heartbeatWorker(
  db: Queryable,
  namespaceId: string,
  workerId: string,
  activeCount: number,
  completedDelta: bigint,
  failedDelta: bigint,
): Promise<WorkerRow | undefined> {
  const rows = await db.query<WorkerRow>(
    `update kagzi_workers
     set last_heartbeat_at = now(), active_count = $3,
         -- Counters saturate instead of overflowing.
         completed_count = completed_count + least($4::bigint, 9223372036854775807 - completed_count),
         failed_count = failed_count + least($5::bigint, 9223372036854775807 - failed_count),
         status = case when status = 'OFFLINE' and deregistered_at is null then 'ONLINE'
                       else status end
     where namespace_id = $1 and worker_id = $2
     returning ${columns}`,
    [namespaceId, workerId, activeCount, completedDelta.toString(), failedDelta.toString()],
  );
  return rows[0];
}

/** One worker. */
export async function getWorker(
  db: Queryable,
  namespaceId: string,
  workerId: string,
): Promise<WorkerRow | undefined> {
  const rows = await db.query<WorkerRow>(
    `select ${columns} from kagzi_workers where namespace_id = $1 and worker_id = $2`,
    [namespaceId, workerId],
  );
  return rows[0];
}

/** Asks a worker to drain (its next heartbeat says so); false when it is not known. */
export async function drainWorker(
  db: Queryable,
  namespaceId: string,
  workerId: string,
): Promise<boolean> {
  const rows = await db.query(
    `update kagzi_workers set status = 'DRAINING'
     where namespace_id = $1 and worker_id = $2 returning 1`,
    [namespaceId, workerId],
  );
  return rows.length > 0;
}

/** Marks a worker OFFLINE for good: it deregistered. False when it is not known. */
export async function deregisterWorker(
  db: Queryable,
  namespaceId: string,
  workerId: string,
): Promise<boolean> {
  const rows = await db.query(
    `update kagzi_workers set status = 'OFFLINE', active_count = 0, deregistered_at = now()
     where namespace_id = $1 and worker_id = $2 returning 1`,
    [namespaceId, workerId],
  );
  return rows.length > 0;
}

/** Marks workers OFFLINE whose last heartbeat is older than `silentMs`; returns how many. */
export async function markSilentWorkersOffline(db: Queryable, silentMs: number): Promise<number> {
  const rows = await db.query(
    `update kagzi_workers set status = 'OFFLINE', active_count = 0
     where status <> 'OFFLINE' and last_heartbeat_at < now() - $1 * interval '1 millisecond'
     returning 1`,
    [silentMs],
  );
  return rows.length;
}

/** A page of workers in id order, after the cursor. */
export async function listWorkers(
  db: Queryable,
  namespaceId: string,
  status: string | null,
  workflowType: string,
  afterWorkerId: string | null,
  limit: number,
): Promise<WorkerRow[]> {
  return await db.query<WorkerRow>(
    `select ${columns} from kagzi_workers
     where namespace_id = $1 and ($2::text is null or status = $2)
       and ($3 = '' or workflow_types @> jsonb_build_array(jsonb_build_object('workflow_type', $3::text)))
       and ($4::uuid is null or worker_id > $4::uuid)
     order by worker_id
     limit $5`,
    [namespaceId, status, workflowType, afterWorkerId, limit],
  );
}

/**
 * Whether an ONLINE worker of the namespace serves (type, version) — a worker registered with
 * no versions serves the unversioned ("") runs — and when any worker that registered them was
 * last heard from (null: none ever did).
 */
export async function servingState(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  version: string,
): Promise<{ online: boolean; last_seen: Date | null }> {
  const rows = await db.query<{ online: boolean; last_seen: Date | null }>(
    `select coalesce(bool_or(w.status = 'ONLINE'), false) as online,
            max(w.last_heartbeat_at) as last_seen
     from kagzi_workers w, jsonb_array_elements(w.workflow_types) t
     where w.namespace_id = $1 and t ->> 'workflow_type' = $2
       and case when jsonb_array_length(coalesce(t -> 'versions', '[]')) = 0 then $3 = ''
                else t -> 'versions' ? $3 end`,
    [namespaceId, workflowType, version],
  );
  return rows[0] ?? { online: false, last_seen: null };
}

/**
 * Releases a worker's running runs when it has been silent for `silentMs` (no heartbeat), with
 * one more attempt each, as an expired lease would: the number released, or undefined when it
 * is not silent (nothing changed).
 */
export async function releaseSilentWorkerRuns(
  db: Queryable,
  namespaceId: string,
  workerId: string,
  silentMs: number,
): Promise<number | undefined> {
  const rows = await db.query<{ n: number; silent: boolean }>(
    `with silent as (
       select 1 from kagzi_workers
       where namespace_id = $1 and worker_id = $2::uuid
         and last_heartbeat_at < now() - $3 * interval '1 millisecond'),
     released as (
       update kagzi_runs set status = 'PENDING', worker_id = null, locked_until = null,
                             available_at = now(), attempt = attempt + 1, updated_at = now()
       where namespace_id = $1 and worker_id = $2::text and status = 'RUNNING'
         and exists (select 1 from silent)
       returning 1)
     select (select count(*) from released)::int as n, exists (select 1 from silent) as silent`,
    [namespaceId, workerId, silentMs],
  );
  return rows[0]?.silent ? rows[0].n : undefined;
}
