/** SQL for named rate limits (RateLimitService), shared by the steps that ask for them. */
import type { Queryable } from "./db.ts";

/** A row of kagzi_rate_limits. */
export interface RateLimitRow {
  namespace_id: string;
  name: string;
  limit: number;
  period_ms: number;
  created_at: Date;
  updated_at: Date;
}

const columns = `namespace_id, name, "limit", period_ms::float8 as period_ms, created_at,
  updated_at`;

/** Creates or replaces a named limit; `created` says it did not exist. */
export async function setRateLimit(
  db: Queryable,
  namespaceId: string,
  name: string,
  limit: number,
  periodMs: number,
): Promise<RateLimitRow & { created: boolean }> {
  const [row] = await db.query<RateLimitRow & { created: boolean }>(
    `insert into kagzi_rate_limits as l (namespace_id, name, "limit", period_ms)
     values ($1, $2, $3, $4)
     on conflict (namespace_id, name) do update
       set "limit" = excluded."limit", period_ms = excluded.period_ms, updated_at = now()
     returning ${columns}, l.xmax = 0 as created`,
    [namespaceId, name, limit, periodMs],
  );
  return row;
}

/** One named limit, or undefined. */
export async function getRateLimit(
  db: Queryable,
  namespaceId: string,
  name: string,
): Promise<RateLimitRow | undefined> {
  const [row] = await db.query<RateLimitRow>(
    `select ${columns} from kagzi_rate_limits where namespace_id = $1 and name = $2`,
    [namespaceId, name],
  );
  return row;
}

/** The named limits of a namespace, by name (at most `max`). */
export async function listRateLimits(
  db: Queryable,
  namespaceId: string,
  max: number,
): Promise<RateLimitRow[]> {
  return await db.query<RateLimitRow>(
    `select ${columns} from kagzi_rate_limits where namespace_id = $1 order by name limit $2`,
    [namespaceId, max],
  );
}

/** How many named limits a namespace has. */
export async function countRateLimits(db: Queryable, namespaceId: string): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `select count(*)::int as n from kagzi_rate_limits where namespace_id = $1`,
    [namespaceId],
  );
  return row.n;
}

/** Deletes a named limit; false when there was none. */
export async function deleteRateLimit(
  db: Queryable,
  namespaceId: string,
  name: string,
): Promise<boolean> {
  const rows = await db.query(
    `delete from kagzi_rate_limits where namespace_id = $1 and name = $2 returning 1`,
    [namespaceId, name],
  );
  return rows.length > 0;
}
