/**
 * SQL for events: the event subscriptions of workflow types (declared when workers register),
 * the emitted events keyed by id, and the runs each one started (see migration 0014).
 */
import type { Queryable } from "./db.ts";

/** A run an event started, as stored in kagzi_events.runs. */
export interface EventRunRow {
  workflow_type: string;
  run_id: string;
  workflow_id: string;
}

/** A row of kagzi_events. */
export interface EventRow {
  namespace_id: string;
  event_name: string;
  event_id: string;
  seq: string;
  data: Uint8Array;
  metadata: Record<string, string>;
  runs: EventRunRow[];
  created_at: Date;
}

/** A row of kagzi_event_subscriptions. */
export interface SubscriptionRow {
  event_name: string;
  workflow_type: string;
  created_at: Date;
}

/**
 * Sets the subscriptions of each type in `types` to its pairs in `pairs` (adding the new ones,
 * removing the ones not listed); types not in `types` keep theirs.
 */
export async function setTypeTriggers(
  db: Queryable,
  namespaceId: string,
  types: string[],
  pairs: { workflowType: string; event: string }[],
): Promise<void> {
  await db.query(
    `with pairs as (
       select * from unnest($3::text[], $4::text[]) as p(workflow_type, event_name)),
     gone as (
       delete from kagzi_event_subscriptions s
       where s.namespace_id = $1 and s.workflow_type = any($2::text[])
         and not exists (select 1 from pairs p where p.workflow_type = s.workflow_type
                                                 and p.event_name = s.event_name))
     insert into kagzi_event_subscriptions (namespace_id, event_name, workflow_type)
     select $1, p.event_name, p.workflow_type from pairs p
     on conflict do nothing`,
    [namespaceId, types, pairs.map((p) => p.workflowType), pairs.map((p) => p.event)],
  );
}

/**
 * Stores a new event with no runs yet, and reads the types subscribed to its name (by name);
 * undefined when the id was emitted before.
 */
export async function insertEvent(
  db: Queryable,
  namespaceId: string,
  name: string,
  eventId: string,
  data: { data: Uint8Array; metadata: Record<string, string> },
): Promise<{ created_at: Date; types: string[] } | undefined> {
  const rows = await db.query<{ created_at: Date | null; types: string[] }>(
    `with ins as (
       insert into kagzi_events (namespace_id, event_name, event_id, data, metadata)
       values ($1, $2, $3, $4, $5::jsonb)
       on conflict do nothing
       returning created_at)
     select (select created_at from ins) as created_at,
            array(select s.workflow_type from kagzi_event_subscriptions s
                  where s.namespace_id = $1 and s.event_name = $2
                  order by s.workflow_type) as types`,
    [namespaceId, name, eventId, data.data, data.metadata],
  );
  const row = rows[0];
  return row.created_at ? { created_at: row.created_at, types: row.types } : undefined;
}

/** Records the runs an event started (in the transaction that stored it). */
export async function setEventRuns(
  db: Queryable,
  namespaceId: string,
  name: string,
  eventId: string,
  runs: EventRunRow[],
): Promise<void> {
  await db.query(
    `update kagzi_events set runs = $4::text::jsonb
     where namespace_id = $1 and event_name = $2 and event_id = $3`,
    [namespaceId, name, eventId, JSON.stringify(runs)],
  );
}

const columns = `namespace_id, event_name, event_id, seq::text, data, metadata, runs, created_at`;

/** One event by name and id. */
export async function getEvent(
  db: Queryable,
  namespaceId: string,
  name: string,
  eventId: string,
): Promise<EventRow | undefined> {
  const rows = await db.query<EventRow>(
    `select ${columns} from kagzi_events
     where namespace_id = $1 and event_name = $2 and event_id = $3`,
    [namespaceId, name, eventId],
  );
  return rows[0];
}

/** Events newest first, after cursor `beforeSeq` (null: from the newest), optionally of one name. */
export async function listEvents(
  db: Queryable,
  namespaceId: string,
  name: string,
  beforeSeq: bigint | null,
  limit: number,
): Promise<EventRow[]> {
  return await db.query<EventRow>(
    `select ${columns} from kagzi_events
     where namespace_id = $1 and ($2 = '' or event_name = $2)
       and ($3::bigint is null or seq < $3::bigint)
     order by kagzi_events.seq desc limit $4`,
    [namespaceId, name, beforeSeq === null ? null : beforeSeq.toString(), limit],
  );
}

/** Subscriptions of the namespace, optionally to one event, by event then type. */
export async function listSubscriptions(
  db: Queryable,
  namespaceId: string,
  event: string,
): Promise<SubscriptionRow[]> {
  return await db.query<SubscriptionRow>(
    `select event_name, workflow_type, created_at from kagzi_event_subscriptions
     where namespace_id = $1 and ($2 = '' or event_name = $2)
     order by event_name, workflow_type limit 10000`,
    [namespaceId, event],
  );
}

/** Removes one subscription; whether it existed. */
export async function deleteSubscription(
  db: Queryable,
  namespaceId: string,
  event: string,
  workflowType: string,
): Promise<boolean> {
  const rows = await db.query(
    `delete from kagzi_event_subscriptions
     where namespace_id = $1 and event_name = $2 and workflow_type = $3
     returning 1`,
    [namespaceId, event, workflowType],
  );
  return rows.length > 0;
}

/** The namespaces that have events (a loose index scan: one probe per namespace). */
export async function listEventNamespaces(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ namespace_id: string }>(
    `with recursive ns as (
       (select namespace_id from kagzi_events order by namespace_id limit 1)
       union all
       select (select e.namespace_id from kagzi_events e where e.namespace_id > ns.namespace_id
               order by e.namespace_id limit 1)
       from ns where ns.namespace_id is not null)
     select namespace_id from ns where namespace_id is not null`,
  );
  return rows.map((r) => r.namespace_id);
}

/**
 * Deletes the events among the `limit` oldest of a namespace that were emitted more than
 * `olderThanMs` ago (their ids can then be emitted anew, as a workflow id once its run is
 * gone); how many. Fewer than `limit` means no older ones are left.
 */
export async function deleteExpiredEvents(
  db: Queryable,
  namespaceId: string,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  const rows = await db.query<{ deleted: number }>(
    // The oldest `limit` by seq (an index range, never the whole namespace), those expired.
    `with oldest as (
       select event_name, event_id, created_at from kagzi_events
       where namespace_id = $1
       order by seq limit $3
       for update skip locked),
     victims as (
       select event_name, event_id from oldest
       where created_at < now() - $2 * interval '1 millisecond'),
     gone as (
       delete from kagzi_events e using victims v
       where e.namespace_id = $1 and e.event_name = v.event_name and e.event_id = v.event_id
       returning 1)
     select count(*)::int as deleted from gone`,
    [namespaceId, olderThanMs, limit],
  );
  return rows[0].deleted;
}
