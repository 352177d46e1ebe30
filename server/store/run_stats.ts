/**
 * SQL for GetRunStats (the dashboard's overview): runs begun and ended per minute and workflow
 * type over a recent window. Read-only, and reads only the window's runs: ended runs through
 * `kagzi_runs_finished`, begun ones through `kagzi_runs_list` walked back from the newest run to
 * the first one created before the window (`seq` follows `created_at`, both set at insert).
 */
import type { Queryable } from "./db.ts";

/** Counts of one workflow type in one minute. */
export interface RunStatsRow {
  workflow_type: string;
  minute: Date;
  begun: number;
  completed: number;
  failed: number;
  cancelled: number;
}

/** The window counted: from the start of the minute `minutes - 1` ago to the database's now. */
export interface RunStatsWindow {
  since: Date;
  until: Date;
}

/** The window of the last `minutes` minutes, by the database's clock. */
export async function statsWindow(db: Queryable, minutes: number): Promise<RunStatsWindow> {
  const [row] = await db.query<RunStatsWindow>(
    `select date_trunc('minute', now()) - make_interval(mins => $1::int - 1) as since,
            now() as until`,
    [minutes],
  );
  return row;
}

/** Runs begun, completed, failed and cancelled per minute and type since `since`. */
export async function runStats(
  db: Queryable,
  namespaceId: string,
  since: Date,
): Promise<RunStatsRow[]> {
  return await db.query<RunStatsRow>(
    `with floor_seq as (
       select coalesce((select seq from kagzi_runs
                        where namespace_id = $1 and created_at < $2
                        order by seq desc limit 1), 0) as s),
     begun as (
       select workflow_type, date_trunc('minute', created_at) as minute, count(*)::int as n
       from kagzi_runs
       where namespace_id = $1 and seq > (select s from floor_seq) and created_at >= $2
       group by 1, 2),
     ended as (
       select workflow_type, date_trunc('minute', finished_at) as minute,
              (count(*) filter (where status = 'COMPLETED'))::int as completed,
              (count(*) filter (where status = 'FAILED'))::int as failed,
              (count(*) filter (where status = 'CANCELLED'))::int as cancelled
       from kagzi_runs
       where namespace_id = $1 and status in ('COMPLETED', 'FAILED', 'CANCELLED')
         and finished_at >= $2
       group by 1, 2)
     select coalesce(b.workflow_type, e.workflow_type) as workflow_type,
            coalesce(b.minute, e.minute) as minute,
            coalesce(b.n, 0) as begun, coalesce(e.completed, 0) as completed,
            coalesce(e.failed, 0) as failed, coalesce(e.cancelled, 0) as cancelled
     from begun b full join ended e on b.workflow_type = e.workflow_type and b.minute = e.minute
     order by 2, 1`,
    [namespaceId, since],
  );
}
