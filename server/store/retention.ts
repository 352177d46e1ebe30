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
