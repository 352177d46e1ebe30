/**
 * SQL for the gauges of `/metrics`: queue backlog, worker health, due runs no online worker
 * serves, parked runs. Read-only.
 */
import type { Queryable } from "./db.ts";

/** Due, unclaimed runs of one workflow type. */
export interface BacklogRow {
  namespace_id: string;
  workflow_type: string;
  backlog: number;
  oldest_s: number;
}

/**
 * Runs due and waiting for a worker (PENDING, or SLEEPING past their wake-up
 * time), per namespace and type, with the age of the oldest. Reads only the due
 * part of the `kagzi_runs_due` index: sleepers not yet due are not scanned.
 */
export async function queueBacklog(db: Queryable): Promise<BacklogRow[]> {
  return await db.query<BacklogRow>(
    `select namespace_id, workflow_type, count(*)::int as backlog,
            greatest(0, extract(epoch from now() - min(available_at)))::float8 as oldest_s
     from kagzi_runs
     where status in ('PENDING', 'SLEEPING') and available_at <= now()
     group by namespace_id, workflow_type`,
  );
}

/** Workers that are not OFFLINE, per namespace and health. */
export interface WorkerHealthRow {
  namespace_id: string;
  health: "healthy" | "degraded" | "unhealthy";
  workers: number;
}

/**
 * Live workers by health from their heartbeat age, with the thresholds of
 * AdminService (a missed heartbeat is degraded, more than three unhealthy).
 */
export async function workerHealth(
  db: Queryable,
  heartbeatIntervalMs: number,
): Promise<WorkerHealthRow[]> {
  return await db.query<WorkerHealthRow>(
    `select namespace_id, health, count(*)::int as workers
     from (select namespace_id,
                  case when age <= 1.5 then 'healthy' when age <= 3 then 'degraded'
                       else 'unhealthy' end as health
           from (select namespace_id,
                        extract(epoch from now() - last_heartbeat_at) * 1000 / $1 as age
                 from kagzi_workers where status <> 'OFFLINE') w) h
     group by namespace_id, health`,
    [heartbeatIntervalMs],
  );
}

/** Runs of one workflow type, for the unserved and parked gauges. */
export interface RunCountRow {
  namespace_id: string;
  workflow_type: string;
  runs: number;
}

/**
 * Due runs (as in {@linkcode queueBacklog}) whose type and version no ONLINE worker serves: they
 * wait for a worker that is not there. Runs are grouped first, so the workers are matched once
 * per (type, version), not once per run.
 */
export async function unservedRuns(db: Queryable): Promise<RunCountRow[]> {
  return await db.query<RunCountRow>(
    `with due as (
       select namespace_id, workflow_type, version, count(*)::int as runs from kagzi_runs
       where status in ('PENDING', 'SLEEPING') and available_at <= now()
       group by namespace_id, workflow_type, version),
     served as (
       select distinct w.namespace_id, t ->> 'workflow_type' as workflow_type, v.version
       from kagzi_workers w, jsonb_array_elements(w.workflow_types) t,
            jsonb_array_elements_text(case when jsonb_array_length(coalesce(t -> 'versions', '[]')) = 0
                                           then '[""]'::jsonb else t -> 'versions' end) v(version)
       where w.status = 'ONLINE')
     select d.namespace_id, d.workflow_type, sum(d.runs)::int as runs
     from due d
     left join served s on s.namespace_id = d.namespace_id
                       and s.workflow_type = d.workflow_type and s.version = d.version
     where s.namespace_id is null
     group by d.namespace_id, d.workflow_type`,
  );
}

/** PARKED runs per namespace and type (the kagzi_runs_parked index holds only them). */
export async function parkedRuns(db: Queryable): Promise<RunCountRow[]> {
  return await db.query<RunCountRow>(
    `select namespace_id, workflow_type, count(*)::int as runs from kagzi_runs
     where status = 'PARKED'
     group by namespace_id, workflow_type`,
  );
}
