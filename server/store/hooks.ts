/** SQL for webhook endpoints (kagzi_hooks, migration 0014). */
import type { Queryable } from "./db.ts";

/** A hook as listed: everything but its secret. */
export interface HookRow {
  namespace_id: string;
  name: string;
  workflow_type: string | null;
  event_name: string | null;
  /** The first 8 hex digits of SHA-256(secret). */
  secret_hint: string;
  created_at: Date;
  updated_at: Date;
}

/** What the endpoint needs to check and act on a delivery. */
export interface HookTarget {
  workflow_type: string | null;
  event_name: string | null;
  secret: Uint8Array;
}

const listed = `namespace_id, name, workflow_type, event_name,
  substr(encode(sha256(secret), 'hex'), 1, 8) as secret_hint, created_at, updated_at`;

/** Creates or replaces a hook; `replaced` tells which. */
export async function upsertHook(
  db: Queryable,
  h: {
    namespaceId: string;
    name: string;
    workflowType: string | null;
    event: string | null;
    secret: Uint8Array;
  },
): Promise<HookRow & { replaced: boolean }> {
  const rows = await db.query<HookRow & { replaced: boolean }>(
    `insert into kagzi_hooks (namespace_id, name, workflow_type, event_name, secret)
     values ($1, $2, $3, $4, $5)
     on conflict (namespace_id, name) do update
       set workflow_type = excluded.workflow_type, event_name = excluded.event_name,
           secret = excluded.secret, updated_at = now()
     returning ${listed}, (xmax <> 0) as replaced`,
    [h.namespaceId, h.name, h.workflowType, h.event, h.secret],
  );
  return rows[0];
}

/** The hook's target and secret, for the endpoint's check. */
export async function getHookTarget(
  db: Queryable,
  namespaceId: string,
  name: string,
): Promise<HookTarget | undefined> {
  const rows = await db.query<HookTarget>(
    `select workflow_type, event_name, secret from kagzi_hooks
     where namespace_id = $1 and name = $2`,
    [namespaceId, name],
  );
  return rows[0];
}

/** The hooks of a namespace by name, without their secrets. */
export async function listHooks(db: Queryable, namespaceId: string): Promise<HookRow[]> {
  return await db.query<HookRow>(
    `select ${listed} from kagzi_hooks where namespace_id = $1 order by name limit 10000`,
    [namespaceId],
  );
}

/** Deletes a hook; whether it existed. */
export async function deleteHook(
  db: Queryable,
  namespaceId: string,
  name: string,
): Promise<boolean> {
  const rows = await db.query(
    `delete from kagzi_hooks where namespace_id = $1 and name = $2 returning 1`,
    [namespaceId, name],
  );
  return rows.length > 0;
}
