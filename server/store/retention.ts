/** SQL for retention: find namespaces with finished runs, delete expired runs in batches. */
import type { Queryable } from "./db.ts";

/**
 * Tables holding rows of a run, keyed by `(namespace_id, run_id, …)`: deleted with
 * the run. A new per-run table is one more name here (or a foreign key to
 * kagzi_runs with `on delete cascade`).
 */
export const perRunTables: readonly string[] = [
  "kagzi_steps",
  "kagzi_superseded_steps",
  "kagzi_payloads",
  "kagzi_signals",
  "kagzi_stream_entries",
];

const finished = `status in ('COMPLETED', 'FAILED', 'CANCELLED')`;

/** A namespace that has finished runs, how long ago (database clock) its oldest one finished. */
export interface FinishedNamespaceRow {
  namespace_id: string;
  oldest_age_ms: number;
}

/**
 * Every namespace with finished runs and the age of its oldest one: a loose index
 * scan of kagzi_runs_finished, one index probe per namespace.
 */
export async function listFinishedNamespaces(db: Queryable): Promise<FinishedNamespaceRow[]> {
  return await db.query<FinishedNamespaceRow>(
    `with recursive ns as (
       (select namespace_id, finished_at from kagzi_runs
        where ${finished} order by namespace_id, finished_at limit 1)
       union all
       select next.namespace_id, next.finished_at from ns
       cross join lateral (
         select r.namespace_id, r.finished_at from kagzi_runs r
         where r.namespace_id > ns.namespace_id and r.${finished}
         order by r.namespace_id, r.finished_at limit 1) next)
     select namespace_id,
            (extract(epoch from now() - finished_at) * 1000)::float8 as oldest_age_ms
     from ns`,
  );
}

/**
 * The statement of {@linkcode deleteExpiredRuns} (`$1` namespace, `$2` retention in ms, `$3`
 * batch size); exported so a test can EXPLAIN exactly what runs.
 */
export const deleteExpiredRunsSql: string = `with victims as (
     select run_id from kagzi_runs
     where namespace_id = $1 and ${finished}
       and finished_at < now() - $2 * interval '1 millisecond'
     order by finished_at
     limit $3
     for update skip locked),
   ${
  perRunTables.map((t, i) =>
    `d${i} as (delete from ${t} x using victims v where x.namespace_id = $1 and x.run_id = v.run_id)`
  ).join(",\n   ")
},
   runs as (
     delete from kagzi_runs r using victims v where r.namespace_id = $1 and r.run_id = v.run_id
     returning 1)
   select count(*)::int as deleted from runs`;

/**
 * Deletes up to `limit` runs of a namespace that finished more than `olderThanMs`
 * ago, oldest first, with their rows in {@linkcode perRunTables}. Runs another
 * server is deleting at the same time are skipped. Returns how many were deleted.
 */
export async function deleteExpiredRuns(
  db: Queryable,
  namespaceId: string,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  const rows = await db.query<{ deleted: number }>(deleteExpiredRunsSql, [
    namespaceId,
    olderThanMs,
    limit,
  ]);
  return rows[0].deleted;
}

/**
 * Namespaced records that are not rows of a run but end on their own (a bulk operation
 * that completed or was cancelled): deleted once they ended longer ago than their
 * namespace's retention, like finished runs. `ended` is the SQL condition of an ended
 * row, `at` the column holding when it ended. A new kind of such record is one more entry.
 */
export const endedRecordTables: readonly { table: string; ended: string; at: string }[] = [
  { table: "kagzi_bulk_operations", ended: "status <> 'RUNNING'", at: "finished_at" },
];

/** Namespaces with ended rows in `table`, and the age (ms) of the oldest one. */
export async function listEndedNamespaces(
  db: Queryable,
  t: (typeof endedRecordTables)[number],
): Promise<FinishedNamespaceRow[]> {
  return await db.query<FinishedNamespaceRow>(
    `select namespace_id,
            (extract(epoch from now() - min(${t.at})) * 1000)::float8 as oldest_age_ms
     from ${t.table} where ${t.ended} group by namespace_id`,
  );
}

/** Deletes up to `limit` rows of `table` in a namespace that ended more than `olderThanMs` ago. */
export async function deleteEndedRecords(
  db: Queryable,
  t: (typeof endedRecordTables)[number],
  namespaceId: string,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  const rows = await db.query<{ deleted: number }>(
    `with victims as (
       select ctid from ${t.table}
       where namespace_id = $1 and ${t.ended} and ${t.at} < now() - $2 * interval '1 millisecond'
       limit $3 for update skip locked),
     gone as (delete from ${t.table} x using victims v where x.ctid = v.ctid returning 1)
     select count(*)::int as deleted from gone`,
    [namespaceId, olderThanMs, limit],
  );
  return rows[0].deleted;
}
