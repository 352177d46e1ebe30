/**
 * Token buckets of rate limits (migration 0011): a GCRA over blocks of m tokens (m the largest
 * divisor of `limit` up to 64), so any window of `period` holds at most `limit` tokens, exactly;
 * tokens are never closer than period / limit / 2 (no bursts), and one taken late does not lower
 * the rate (the next may follow sooner).
 * A take runs in the caller's transaction (the bucket row stays locked until it commits), so a
 * claim or a step's begin and its token are one atomic decision across every server replica.
 */
import type { Queryable } from "./db.ts";

/** Which kind of limit a bucket belongs to: a named step limit or a workflow type's run limit. */
export type BucketKind = "step" | "run";

/** A bucket: the namespace, the kind, the limit's name (or workflow type) and the key. */
export interface BucketRef {
  namespaceId: string;
  kind: BucketKind;
  name: string;
  /** The key's value ("" for a named step limit). */
  key: string;
}

/** The result of a take: taken, or the time to try again (no token is free before then). */
export type Take = { taken: true } | { taken: false; retryAt: Date };

/**
 * Takes a token of the bucket at the transaction's time (or `at`). When none is free, the
 * answer's time is this caller's own: callers told to come back are spread period / limit apart.
 */
export async function takeToken(
  db: Queryable,
  bucket: BucketRef,
  limit: number,
  periodMs: number,
  at?: Date,
): Promise<Take> {
  const [row] = await db.query<{ retry_ms: number | null }>(
    `select ${
      ceilMs("kagzi_take_token($1, $2, $3, $4, $5, $6, coalesce($7::timestamptz, now()))")
    } as retry_ms`,
    [
      bucket.namespaceId,
      bucket.kind,
      bucket.name,
      bucket.key,
      limit,
      periodMs,
      at ?? null,
    ],
  );
  return row.retry_ms === null
    ? { taken: true }
    : { taken: false, retryAt: new Date(row.retry_ms) };
}

/** A timestamp expression as epoch milliseconds rounded up (a Date would round down). */
function ceilMs(expr: string): string {
  return `ceil(extract(epoch from ${expr}) * 1000)::float8`;
}

/** Deletes the buckets of a limit (when the named limit is deleted). */
export async function deleteBuckets(
  db: Queryable,
  namespaceId: string,
  kind: BucketKind,
  name: string,
): Promise<void> {
  await db.query(
    `delete from kagzi_rate_buckets where namespace_id = $1 and kind = $2 and name = $3`,
    [namespaceId, kind, name],
  );
}

/**
 * Deletes up to `limit` buckets idle for `idleMs` (their next token and every waiter's time
 * have passed: such a row acts exactly as no row); returns how many.
 */
export async function sweepIdleBuckets(
  db: Queryable,
  idleMs: number,
  limit: number,
): Promise<number> {
  const rows = await db.query(
    `with idle as (
       select namespace_id, kind, name, key from kagzi_rate_buckets
       where greatest(tat, next_wake) < now() - $1 * interval '1 millisecond'
       limit $2
       for update skip locked)
     delete from kagzi_rate_buckets b using idle
     where b.namespace_id = idle.namespace_id and b.kind = idle.kind and b.name = idle.name
       and b.key = idle.key
     returning 1`,
    [idleMs, limit],
  );
  return rows.length;
}

/** What a held run's step got when it asked for a token of a named limit. */
export type StepTake = Take | { taken: false; held: false } | { taken: false; unknown: true };

/**
 * For a step of a held run (`fence`, RUNNING): takes a token of the named limit `name`, in one
 * statement. Nothing is taken when the lease is lost (`held: false`) or the limit is not
 * defined (`unknown: true`).
 */
export async function takeStepToken(
  db: Queryable,
  namespaceId: string,
  runId: string,
  fence: string,
  name: string,
): Promise<StepTake> {
  const [row] = await db.query<{ held: boolean; known: boolean; retry_ms: number | null }>(
    `select r.run_id is not null as held, l.name is not null as known,
            case when r.run_id is not null and l.name is not null
                 then ${
      ceilMs(`kagzi_take_token($1, 'step', $4, '', l."limit", l.period_ms::float8)`)
    }
            end as retry_ms
     from (select 1) one
     left join kagzi_runs r on r.namespace_id = $1 and r.run_id = $2 and r.fence = $3
                           and r.status = 'RUNNING'
     left join kagzi_rate_limits l on l.namespace_id = $1 and l.name = $4`,
    [namespaceId, runId, fence, name],
  );
  if (!row.held) return { taken: false, held: false };
  if (!row.known) return { taken: false, unknown: true };
  return row.retry_ms === null
    ? { taken: true }
    : { taken: false, retryAt: new Date(row.retry_ms) };
}
