/** SQL for the gauges of `/metrics`: queue backlog and worker health. Read-only. */
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
