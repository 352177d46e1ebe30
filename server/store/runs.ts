/** SQL for workflow runs: start, get, list, cancel. One statement per function. */
import type { Queryable } from "./db.ts";
import { insertOne } from "./single.ts";

/** The statuses a run can have; the first three are non-terminal. */
export type RunStatus = "PENDING" | "RUNNING" | "SLEEPING" | "COMPLETED" | "FAILED" | "CANCELLED";

/** A row of kagzi_runs joined with its payloads. */
export interface RunRow {
  namespace_id: string;
  run_id: string;
  seq: string;
  workflow_id: string;
  workflow_type: string;
  version: string;
  status: RunStatus;
  attempt: number;
  fence: string;
  worker_id: string | null;
  locked_until: Date | null;
  available_at: Date;
  wake_up_at: Date | null;
  deadline_at: Date | null;
  retry_policy: unknown;
  error: unknown;
  schedule_id: string | null;
  parent_run_id: string | null;
  retried_from_run_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  /** W3C trace context of the start, if the caller sent one. */
  traceparent: string | null;
  input_data?: Uint8Array | null;
  input_metadata?: Record<string, string> | null;
  output_data?: Uint8Array | null;
  output_metadata?: Record<string, string> | null;
  context_data?: Uint8Array | null;
  context_metadata?: Record<string, string> | null;
}

/** What StartWorkflow stores. */
export interface NewRun {
  namespaceId: string;
  runId: string;
  workflowId: string;
  workflowType: string;
  version: string;
  deadlineAt: Date | null;
  retryPolicy: unknown;
  input: { data: Uint8Array; metadata: Record<string, string> };
  context: { data: Uint8Array; metadata: Record<string, string> } | null;
  scheduleId: string | null;
  /** W3C trace context of the caller. @default null */
  traceparent?: string | null;
  /**
   * Sync match: store the run already claimed by this waiting worker when its version is one
   * the worker serves (else it is stored PENDING as usual).
   */
  claim?: { workerId: string; versions: string[]; leaseMs: number } | null;
}

/** What {@linkcode insertRuns} stored for an item. */
export interface InsertedRun {
  run_id: string;
  status: RunStatus;
  /** The version stored (the default version when none was asked for). */
  version: string;
  /** Claimed by `claim.workerId` (RUNNING): the fence and lease of that claim. */
  fence: string;
  locked_until: Date | null;
}

/** The columns of a {@linkcode RunRow} (without payloads), for a table aliased `r`. */
export const runColumns =
  `r.namespace_id, r.run_id::text, r.seq::text, r.workflow_id, r.workflow_type,
  r.version, r.status, r.attempt, r.fence::text, r.worker_id, r.locked_until, r.available_at,
  r.wake_up_at, r.deadline_at, r.retry_policy, r.error, r.schedule_id, r.parent_run_id::text,
  r.created_at, r.started_at, r.finished_at, r.updated_at, r.retried_from_run_id::text,
  r.traceparent`;

/**
 * Inserts PENDING runs with their payloads in one statement; a run whose
 * workflow_id is held by a non-terminal run (or by an earlier item of the same
 * call) is skipped. Per item: the stored status, or undefined when skipped.
 */
export async function insertRuns(
  db: Queryable,
  items: NewRun[],
): Promise<(InsertedRun | undefined)[]> {
  if (items.length === 1) return [await insertOne(db, items[0])];
  const rows = await db.query<InsertedRun>(
    `with input as (
       select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                            $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                            $16::int[])
         with ordinality as i(namespace_id, run_id, workflow_id, workflow_type, version,
                              deadline_at, retry_policy, schedule_id, input, input_metadata,
                              context, context_metadata, traceparent, claim_worker,
                              claim_versions, lease_ms, idx)),
     resolved as (
       select i.*, v.version as stored_version,
              coalesce(i.claim_worker is not null
                       and (i.claim_versions::jsonb ? v.version), false) as handed
       from input i
       left join kagzi_default_versions d on d.namespace_id = i.namespace_id
                                          and d.workflow_type = i.workflow_type
       cross join lateral (select coalesce(nullif(i.version, ''), d.version, '') as version) v),
     ins as (
       insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version, status,
                               deadline_at, retry_policy, schedule_id, traceparent, worker_id,
                               locked_until, fence, started_at)
       select i.namespace_id, i.run_id, i.workflow_id, i.workflow_type, i.stored_version,
              case when i.handed then 'RUNNING' else 'PENDING' end,
              i.deadline_at::timestamptz, i.retry_policy::jsonb, i.schedule_id, i.traceparent,
              case when i.handed then i.claim_worker end,
              case when i.handed then now() + i.lease_ms * interval '1 millisecond' end,
              case when i.handed then 1 else 0 end,
              case when i.handed then now() end
       from resolved i
       order by i.idx
       on conflict (namespace_id, workflow_id) where status in ('PENDING', 'RUNNING', 'SLEEPING')
       do nothing
       returning namespace_id, run_id, status, version, fence, locked_until),
     payloads as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select ins.namespace_id, ins.run_id, 'input', decode(i.input, 'base64'), i.input_metadata::jsonb
       from ins join input i on i.run_id = ins.run_id
       union all
       select ins.namespace_id, ins.run_id, 'context', decode(i.context, 'base64'),
              i.context_metadata::jsonb
       from ins join input i on i.run_id = ins.run_id where i.context is not null)
     select run_id::text, status, version, fence::text, locked_until from ins`,
    [
      items.map((r) => r.namespaceId),
      items.map((r) => r.runId),
      items.map((r) => r.workflowId),
      items.map((r) => r.workflowType),
      items.map((r) => r.version),
      items.map((r) => r.deadlineAt?.toISOString() ?? null),
      items.map((r) => (r.retryPolicy == null ? null : JSON.stringify(r.retryPolicy))),
      items.map((r) => r.scheduleId),
      items.map((r) => base64(r.input.data)),
      items.map((r) => JSON.stringify(r.input.metadata)),
      items.map((r) => (r.context ? base64(r.context.data) : null)),
      items.map((r) => JSON.stringify(r.context?.metadata ?? {})),
      items.map((r) => r.traceparent ?? null),
      items.map((r) => r.claim?.workerId ?? null),
      items.map((r) => (r.claim ? JSON.stringify(r.claim.versions) : null)),
      items.map((r) => r.claim?.leaseMs ?? 0),
    ],
  );
  const byId = new Map(rows.map((r) => [r.run_id, r]));
  return items.map((r) => byId.get(r.runId));
}

/** Inserts one run; see {@linkcode insertRuns}. */
export async function insertRun(
  db: Queryable,
  run: NewRun,
): Promise<InsertedRun | undefined> {
  return (await insertRuns(db, [run]))[0];
}

/** Base64 of bytes, for passing binary arrays through text parameters. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** The non-terminal run holding a workflow_id, if any. */
export async function findActiveRun(
  db: Queryable,
  namespaceId: string,
  workflowId: string,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `select ${runColumns} from kagzi_runs r
     where r.namespace_id = $1 and r.workflow_id = $2
       and r.status in ('PENDING', 'RUNNING', 'SLEEPING')`,
    [namespaceId, workflowId],
  );
  return rows[0];
}

/** One run with its input, output and context. */
export async function getRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `select ${runColumns},
       i.data as input_data, i.metadata as input_metadata,
       o.data as output_data, o.metadata as output_metadata,
       c.data as context_data, c.metadata as context_metadata
     from kagzi_runs r
     left join kagzi_payloads i on i.namespace_id = r.namespace_id and i.run_id = r.run_id
                               and i.kind = 'input'
     left join kagzi_payloads o on o.namespace_id = r.namespace_id and o.run_id = r.run_id
                               and o.kind = 'output'
     left join kagzi_payloads c on c.namespace_id = r.namespace_id and c.run_id = r.run_id
                               and c.kind = 'context'
     where r.namespace_id = $1 and r.run_id = $2`,
    [namespaceId, runId],
  );
  return rows[0];
}

/** Filters of ListWorkflows; empty strings and null mean "any". */
export interface RunFilter {
  namespaceId: string;
  status: RunStatus | null;
  workflowType: string;
  workflowId: string;
  scheduleId: string;
  version: string | null;
  /** Only the children of this run; empty for any. */
  parentRunId: string;
}

const filterSql = `r.namespace_id = $1
  and ($2::text is null or r.status = $2)
  and ($3 = '' or r.workflow_type = $3)
  and ($4 = '' or r.workflow_id = $4)
  and ($5 = '' or r.schedule_id = $5)
  and ($6::text is null or r.version = $6)
  and ($7 = '' or r.parent_run_id = nullif($7, '')::uuid)`;

const filterParams = (f: RunFilter) => [
  f.namespaceId,
  f.status,
  f.workflowType,
  f.workflowId,
  f.scheduleId,
  f.version,
  f.parentRunId,
];

/** A page of runs, newest first, strictly older than the cursor `beforeSeq`. */
export async function listRuns(
  db: Queryable,
  filter: RunFilter,
  beforeSeq: bigint | null,
  limit: number,
): Promise<RunRow[]> {
  return await db.query<RunRow>(
    `select ${runColumns} from kagzi_runs r
     where ${filterSql} and ($8::bigint is null or r.seq < $8)
     order by r.seq desc
     limit $9`,
    [...filterParams(filter), beforeSeq?.toString() ?? null, limit],
  );
}

/** How many runs match the filter. */
export async function countRuns(db: Queryable, filter: RunFilter): Promise<number> {
  const rows = await db.query<{ n: string }>(
    `select count(*)::text as n from kagzi_runs r where ${filterSql}`,
    filterParams(filter),
  );
  return Number(rows[0].n);
}

/** Cancels a non-terminal run; returns it, or nothing when it was not cancellable. */
export async function cancelRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
  error: unknown,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `update kagzi_runs r
     set status = 'CANCELLED', error = $3::jsonb, finished_at = now(), updated_at = now(),
         locked_until = null
     where r.namespace_id = $1 and r.run_id = $2 and r.status in ('PENDING', 'RUNNING', 'SLEEPING')
     returning ${runColumns}`,
    [namespaceId, runId, error],
  );
  return rows[0];
}
