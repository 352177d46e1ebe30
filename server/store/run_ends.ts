/**
 * SQL for the ends of held runs: completions in one statement (`completeRuns`) and its twin for
 * a lone completion (`completeRun`), and failure (`failRun`).
 */
import { base64, type Queryable } from "./db.ts";
import { runColumns, type RunRow } from "./runs.ts";
import { lockedFirst, lockSlotsOf } from "./slot_locks.ts";

/** A run that just ended, for metrics. */
export interface FinishedRun {
  workflow_type: string;
  /** Seconds from its start (creation) to its end. */
  duration_s: number;
  /** The ended run as stored (without payloads), when the statement returns it. */
  row?: RunRow;
}

/** A run to complete, for {@linkcode completeRuns}. */
export interface RunOutput {
  namespaceId: string;
  runId: string;
  fence: string;
  output: { data: Uint8Array; metadata: Record<string, string> };
}

/**
 * Completes held runs with their outputs in one statement; per item false when
 * the lease is lost (or an earlier item of the batch completed the same run).
 */
export async function completeRuns(
  db: Queryable,
  items: RunOutput[],
): Promise<(FinishedRun | undefined)[]> {
  if (items.length === 1) return [await completeRun(db, items[0])];
  const rows = await db.query<FinishedRun & { idx: number }>(
    `with input as (
       select * from unnest($1::text[], $2::uuid[], $3::bigint[], $4::text[], $5::text[])
         with ordinality as i(namespace_id, run_id, fence, output, metadata, idx)),
     -- Of several completions of one run in a batch, the first is the one offered.
     first as (
       select distinct on (namespace_id, run_id) * from input order by namespace_id, run_id, idx),
     -- Locked in run order first, as heartbeats and step outputs lock them (no deadlocks).
     locked as (
       select r.namespace_id, r.run_id, r.workflow_type, r.flow_slots from kagzi_runs r
       join first i on r.namespace_id = i.namespace_id and r.run_id = i.run_id
                   and r.fence = i.fence
       where r.status = 'RUNNING'
       order by r.namespace_id, r.run_id
       for no key update of r),
     ${lockSlotsOf("slots", "locked")},
     run as (
       update kagzi_runs r
       set status = 'COMPLETED', finished_at = now(), updated_at = now(), locked_until = null
       from first i join locked k on k.namespace_id = i.namespace_id and k.run_id = i.run_id
       where r.namespace_id = i.namespace_id and r.run_id = i.run_id and r.fence = i.fence
         and r.status = 'RUNNING' and ${lockedFirst("slots")}
       returning r.namespace_id, r.run_id, i.idx, r.workflow_type,
                 extract(epoch from r.finished_at - r.created_at)::float8 as duration_s),
     output as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select run.namespace_id, run.run_id, 'output', decode(i.output, 'base64'), i.metadata::jsonb
       from run join input i on i.idx = run.idx
       on conflict (namespace_id, run_id, kind) do update set data = excluded.data,
                                                             metadata = excluded.metadata)
     select idx::int, workflow_type, duration_s from run`,
    [
      items.map((i) => i.namespaceId),
      items.map((i) => i.runId),
      items.map((i) => i.fence),
      items.map((i) => base64(i.output.data)),
      items.map((i) => JSON.stringify(i.output.metadata)),
    ],
  );
  const done = new Map(rows.map((r) => [r.idx, r]));
  return items.map((_, i) => done.get(i + 1));
}

/** One run completed alone: `completeRuns`'s statement without the batch's cost. */
export async function completeRun(
  db: Queryable,
  item: RunOutput,
): Promise<FinishedRun | undefined> {
  const rows = await db.query<RunRow & { duration_s: number }>(
    `with ${completeRunCtes("$4", "$5")} select * from run`,
    [
      item.namespaceId,
      item.runId,
      item.fence,
      item.output.data,
      // A jsonb parameter: postgres.js serializes the object itself.
      item.output.metadata,
    ],
  );
  const row = rows[0];
  return row && { workflow_type: row.workflow_type, duration_s: row.duration_s, row };
}

/**
 * The CTEs that complete one held run (`run`, returning its row and `duration_s`) and store its
 * output (`output`): $1 namespace, $2 run, $3 fence; `data` and `metadata` name the output's
 * parameters; `also` is a further condition of the completion.
 */
export function completeRunCtes(data: string, metadata: string, also = "true"): string {
  return `run as (
       update kagzi_runs r
       set status = 'COMPLETED', finished_at = now(), updated_at = now(), locked_until = null
       where r.namespace_id = $1 and r.run_id = $2 and r.fence = $3 and r.status = 'RUNNING'
         and ${also}
       returning ${runColumns},
                 extract(epoch from r.finished_at - r.created_at)::float8 as duration_s),
     output as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select run.namespace_id, run.run_id::uuid, 'output', ${data}, ${metadata}::jsonb from run
       on conflict (namespace_id, run_id, kind) do update set data = excluded.data,
                                                             metadata = excluded.metadata)`;
}

/** Fails a held run with an error; undefined when the lease is lost. */
export async function failRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
  fence: string,
  error: unknown,
): Promise<FinishedRun | undefined> {
  const rows = await db.query<FinishedRun>(
    `update kagzi_runs
     set status = 'FAILED', error = $4::jsonb, finished_at = now(), updated_at = now(),
         locked_until = null
     where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING'
     returning workflow_type, extract(epoch from finished_at - created_at)::float8 as duration_s`,
    [namespaceId, runId, fence, error],
  );
  return rows[0];
}
