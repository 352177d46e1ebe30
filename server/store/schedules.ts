/** SQL for cron schedules. */
import type { Queryable } from "./db.ts";

/** A row of kagzi_schedules. */
export interface ScheduleRow {
  namespace_id: string;
  schedule_id: string;
  workflow_type: string;
  cron: string;
  timezone: string;
  input: Uint8Array | null;
  input_metadata: Record<string, string> | null;
  version: string;
  enabled: boolean;
  max_catchup: number;
  next_fire_at: Date | null;
  last_fired_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The stored fields of a schedule. */
export interface ScheduleFields {
  namespaceId: string;
  scheduleId: string;
  workflowType: string;
  cron: string;
  timezone: string;
  input: { data: Uint8Array; metadata: Record<string, string> } | null;
  version: string;
  enabled: boolean;
  maxCatchup: number;
  nextFireAt: Date | null;
}

/** Creates or replaces a schedule; `replaced` tells which. */
export async function upsertSchedule(
  db: Queryable,
  s: ScheduleFields,
): Promise<ScheduleRow & { replaced: boolean }> {
  const rows = await db.query<ScheduleRow & { replaced: boolean }>(
    `insert into kagzi_schedules (namespace_id, schedule_id, workflow_type, cron, timezone, input,
                                  input_metadata, version, enabled, max_catchup, next_fire_at)
     values ($1, $2, $3, $4, $5, $6::bytea, $7::jsonb, $8, $9, $10, $11)
     on conflict (namespace_id, schedule_id) do update
       set workflow_type = excluded.workflow_type, cron = excluded.cron,
           timezone = excluded.timezone, input = excluded.input,
           input_metadata = excluded.input_metadata, version = excluded.version,
           enabled = excluded.enabled, max_catchup = excluded.max_catchup,
           next_fire_at = excluded.next_fire_at, updated_at = now()
     returning *, (xmax <> 0) as replaced`,
    params(s),
  );
  return rows[0];
}

/** Overwrites a schedule's fields (after a partial update was applied); undefined if gone. */
export async function updateSchedule(
  db: Queryable,
  s: ScheduleFields,
): Promise<ScheduleRow | undefined> {
  const rows = await db.query<ScheduleRow>(
    `update kagzi_schedules
     set workflow_type = $3, cron = $4, timezone = $5, input = $6::bytea, input_metadata = $7::jsonb,
         version = $8, enabled = $9, max_catchup = $10, next_fire_at = $11, updated_at = now()
     where namespace_id = $1 and schedule_id = $2
     returning *`,
    params(s),
  );
  return rows[0];
}

function params(s: ScheduleFields): unknown[] {
  return [
    s.namespaceId,
    s.scheduleId,
    s.workflowType,
    s.cron,
    s.timezone,
    s.input?.data ?? null,
    s.input?.metadata ?? null,
    s.version,
    s.enabled,
    s.maxCatchup,
    s.nextFireAt,
  ];
}

/** One schedule. */
export async function getSchedule(
  db: Queryable,
  namespaceId: string,
  scheduleId: string,
): Promise<ScheduleRow | undefined> {
  const rows = await db.query<ScheduleRow>(
    `select * from kagzi_schedules where namespace_id = $1 and schedule_id = $2`,
    [namespaceId, scheduleId],
  );
  return rows[0];
}

/** A page of schedules in id order after `afterId`. */
export async function listSchedules(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  afterId: string | null,
  limit: number,
): Promise<ScheduleRow[]> {
  return await db.query<ScheduleRow>(
    `select * from kagzi_schedules
     where namespace_id = $1 and ($2 = '' or workflow_type = $2)
       and ($3::text is null or schedule_id > $3)
     order by schedule_id limit $4`,
    [namespaceId, workflowType, afterId, limit],
  );
}

/** Deletes a schedule; false when there was none. */
export async function deleteSchedule(
  db: Queryable,
  namespaceId: string,
  scheduleId: string,
): Promise<boolean> {
  const rows = await db.query(
    `delete from kagzi_schedules where namespace_id = $1 and schedule_id = $2 returning 1`,
    [namespaceId, scheduleId],
  );
  return rows.length > 0;
}

/** Locks due schedules for firing (inside a transaction); other servers skip them. */
export async function lockDueSchedules(db: Queryable, limit: number): Promise<ScheduleRow[]> {
  return await db.query<ScheduleRow>(
    `select * from kagzi_schedules
     where enabled and next_fire_at <= now()
     order by next_fire_at
     limit $1
     for update skip locked`,
    [limit],
  );
}

/** Records a firing: the next fire time and the last one fired. */
export async function advanceSchedule(
  db: Queryable,
  namespaceId: string,
  scheduleId: string,
  nextFireAt: Date | null,
  lastFiredAt: Date | null,
): Promise<void> {
  await db.query(
    `update kagzi_schedules
     set next_fire_at = $3, last_fired_at = coalesce($4, last_fired_at)
     where namespace_id = $1 and schedule_id = $2`,
    [namespaceId, scheduleId, nextFireAt, lastFiredAt],
  );
}

/** The earliest next fire time of any enabled schedule. */
export async function nextScheduleFire(db: Queryable): Promise<Date | undefined> {
  const rows = await db.query<{ at: Date | null }>(
    `select min(next_fire_at) as at from kagzi_schedules where enabled`,
  );
  return rows[0]?.at ?? undefined;
}
