/** SQL for flow control: the registered configuration of a (type, version) and slots in use. */
import type { Queryable } from "./db.ts";

/** A stored flow control (config is the JSON of services/_flow.ts's FlowConfig). */
export interface FlowControlRow {
  workflow_type: string;
  version: string;
  config: unknown;
  worker_id: string;
  updated_at: Date;
}

/**
 * Stores the flow control of (type, version) from a worker's registration (the newest wins);
 * returns what was stored before when it differed, so the caller can log both.
 */
export async function upsertFlowControl(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  version: string,
  config: unknown,
  workerId: string,
): Promise<FlowControlRow | undefined> {
  const rows = await db.query<FlowControlRow & { replaced: boolean }>(
    `with old as (
       select config, worker_id, updated_at from kagzi_flow_controls
       where namespace_id = $1 and workflow_type = $2 and version = $3),
     up as (
       insert into kagzi_flow_controls (namespace_id, workflow_type, version, config, worker_id)
       values ($1, $2, $3, $4::jsonb, $5)
       on conflict (namespace_id, workflow_type, version)
       do update set config = excluded.config, worker_id = excluded.worker_id, updated_at = now())
     select $2::text as workflow_type, $3::text as version, config, worker_id, updated_at
     from old where config <> $4::jsonb`,
    [namespaceId, workflowType, version, config, workerId],
  );
  return rows[0];
}

/** Removes the flow control of (type, version) (its worker registered it without any). */
export async function deleteFlowControl(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  version: string,
): Promise<void> {
  await db.query(
    `delete from kagzi_flow_controls
     where namespace_id = $1 and workflow_type = $2 and version = $3`,
    [namespaceId, workflowType, version],
  );
}

/** The flow controls of a type, newest first. */
export async function flowControlsOf(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
): Promise<FlowControlRow[]> {
  return await db.query<FlowControlRow>(
    `select workflow_type, version, config, worker_id, updated_at from kagzi_flow_controls
     where namespace_id = $1 and workflow_type = $2 order by updated_at desc, version`,
    [namespaceId, workflowType],
  );
}

/** A concurrency slot in use or waited for. */
export interface SlotUseRow {
  slot_key: string;
  cap: number;
  used: number;
  waiting: number;
}

/** The slots of a type with holders or waiters, busiest first. */
export async function slotsInUse(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  limit: number,
): Promise<SlotUseRow[]> {
  return await db.query<SlotUseRow>(
    `select f.slot_key, f.cap, f.used,
            (select count(*)::int from kagzi_runs w
             where w.namespace_id = f.namespace_id and w.workflow_type = f.workflow_type
               and w.flow_wait = f.slot_key and w.status = 'PENDING') as waiting
     from kagzi_flow_slots f
     where f.namespace_id = $1 and f.workflow_type = $2
       and (f.used > 0 or exists (select 1 from kagzi_runs w
                                  where w.namespace_id = f.namespace_id
                                    and w.workflow_type = f.workflow_type
                                    and w.flow_wait = f.slot_key))
     order by f.used desc, f.slot_key limit $3`,
    [namespaceId, workflowType, limit],
  );
}
