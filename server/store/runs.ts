/** SQL for workflow runs: get, find, list, count, cancel. One statement per function. */
import type { WorkflowStatus } from "@kagzi/sdk/client";
import type { Queryable } from "./db.ts";

/** The statuses a run can have (the SDK's one list); the first five are open (non-terminal). */
export type RunStatus = WorkflowStatus;

/**
 * The open statuses as an SQL list, for `status in ${openStatuses}`: the predicate of the
 * one-open-run-per-workflow-id index (ON CONFLICT clauses name it) and of cancellation.
 */
export const openStatuses = `('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED')`;

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
  /** Why a PARKED run is parked (see migrations/0007_parked.sql). */
  parked: ParkedJson | null;
  /** Searchable attributes (migration 0008). */
  tags: Record<string, string>;
  /** Higher is claimed first. */
  priority: number;
  /** The full concurrency slot it waits for (services/_flow_keys.ts), and that slot's limit. */
  flow_wait: string | null;
  flow_wait_cap: number | null;
  /** Held back by its type's run rate limit (migration 0011), with its key's value. */
  rate_limited?: boolean;
  rate_key?: string | null;
  /** The type's run rate limit, read for a run it holds back. */
  rate_limit?: { key: string; limit: number; periodMs: number } | null;
  input_data?: Uint8Array | null;
  input_metadata?: Record<string, string> | null;
  output_data?: Uint8Array | null;
  output_metadata?: Record<string, string> | null;
  context_data?: Uint8Array | null;
  context_metadata?: Record<string, string> | null;
}

/** What a PARKED run stores about where its code and its history parted. */
export interface ParkedJson {
  expected: StepRefJson | null;
  asked: StepRefJson;
  unasked: StepRefJson[];
  parkedAt: string;
  workerId: string;
}

/** A step reference as stored in `parked`. */
export interface StepRefJson {
  kind: "FUNCTION" | "SLEEP" | "SIGNAL" | "CHILD" | "TOKEN" | "ANY";
  name: string;
  occurrence: number;
}

/** The columns of a {@linkcode RunRow} (without payloads), for a table aliased `r`. */
export const runColumns =
  `r.namespace_id, r.run_id::text, r.seq::text, r.workflow_id, r.workflow_type,
  r.version, r.status, r.attempt, r.fence::text, r.worker_id, r.locked_until, r.available_at,
  r.wake_up_at, r.deadline_at, r.retry_policy, r.error, r.schedule_id, r.parent_run_id::text,
  r.created_at, r.started_at, r.finished_at, r.updated_at, r.retried_from_run_id::text,
  r.traceparent, r.parked, r.tags, r.priority, r.flow_wait,
  case when r.flow_wait is not null then
    (select f.cap from kagzi_flow_slots f where f.namespace_id = r.namespace_id
       and f.workflow_type = r.workflow_type and f.slot_key = r.flow_wait) end as flow_wait_cap,
  r.rate_limited, r.rate_key,
  case when r.rate_limited then
    (select f.config->'rateLimit' from kagzi_flow_controls f
     where f.namespace_id = r.namespace_id and f.workflow_type = r.workflow_type
     order by f.version = r.version desc, f.updated_at desc limit 1) end as rate_limit`;

/** The non-terminal run holding a workflow_id, if any. */
export async function findActiveRun(
  db: Queryable,
  namespaceId: string,
  workflowId: string,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `select ${runColumns} from kagzi_runs r
     where r.namespace_id = $1 and r.workflow_id = $2
       and r.status in ${openStatuses}`,
    [namespaceId, workflowId],
  );
  return rows[0];
}

/** The newest retained run under a workflow_id (open or ended), if any. */
export async function findNewestRun(
  db: Queryable,
  namespaceId: string,
  workflowId: string,
): Promise<RunRow | undefined> {
  const rows = await db.query<RunRow>(
    `select ${runColumns} from kagzi_runs r
     where r.namespace_id = $1 and r.workflow_id = $2
     order by r.id_generation desc limit 1`,
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
  const rows = await db.query<RunRow>(runSql(""), [namespaceId, runId]);
  return rows[0];
}

/**
 * {@linkcode getRun} with the ids of the runs RetryWorkflow started from it, oldest first, in the
 * same statement (GetWorkflow's answer: one round trip instead of two).
 */
export async function getRunWithReruns(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<(RunRow & { rerun_run_ids: string[] }) | undefined> {
  const rows = await db.query<RunRow & { rerun_run_ids: string[] }>(
    runSql(`,
       array(select x.run_id::text from kagzi_runs x
             where x.namespace_id = r.namespace_id and x.retried_from_run_id = r.run_id
             order by x.seq) as rerun_run_ids`),
    [namespaceId, runId],
  );
  return rows[0];
}

const runSql = (more: string) =>
  `select ${runColumns},
     i.data as input_data, i.metadata as input_metadata,
     o.data as output_data, o.metadata as output_metadata,
     c.data as context_data, c.metadata as context_metadata${more}
   from kagzi_runs r
   left join kagzi_payloads i on i.namespace_id = r.namespace_id and i.run_id = r.run_id
                             and i.kind = 'input'
   left join kagzi_payloads o on o.namespace_id = r.namespace_id and o.run_id = r.run_id
                             and o.kind = 'output'
   left join kagzi_payloads c on c.namespace_id = r.namespace_id and c.run_id = r.run_id
                             and c.kind = 'context'
   where r.namespace_id = $1 and r.run_id = $2`;

/** How a run ended (or that it is still open): what a result wait answers. */
export interface RunEnd {
  run_id: string;
  status: RunStatus;
  error: unknown;
  output_data: Uint8Array | null;
  output_metadata: Record<string, string> | null;
}

/** The status of each of `runIds` that exists, with the output of those that completed. */
export async function getRunEnds(
  db: Queryable,
  namespaceId: string,
  runIds: string[],
): Promise<RunEnd[]> {
  return await db.query<RunEnd>(
    `select r.run_id, r.status, r.error, o.data as output_data, o.metadata as output_metadata
     from kagzi_runs r
     left join kagzi_payloads o on r.status = 'COMPLETED' and o.namespace_id = r.namespace_id
                               and o.run_id = r.run_id and o.kind = 'output'
     where r.namespace_id = $1 and r.run_id = any($2::uuid[])`,
    [namespaceId, runIds],
  );
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
  /** Only runs carrying all of these tags; null for any. */
  tags: Record<string, string> | null;
}

// The tag clause is in the text only when tags are asked for: a prepared statement's generic
// plan cannot use the GIN index behind "$8 is null or tags @> $8" (it scans every run).
const filterSql = (f: RunFilter) =>
  `r.namespace_id = $1
  and ($2::text is null or r.status = $2)
  and ($3 = '' or r.workflow_type = $3)
  and ($4 = '' or r.workflow_id = $4)
  and ($5 = '' or r.schedule_id = $5)
  and ($6::text is null or r.version = $6)
  and ($7 = '' or r.parent_run_id = nullif($7, '')::uuid)
  and ${f.tags ? "r.tags @> $8::jsonb" : "$8::jsonb is null"}`;

const filterParams = (f: RunFilter) => [
  f.namespaceId,
  f.status,
  f.workflowType,
  f.workflowId,
  f.scheduleId,
  f.version,
  f.parentRunId,
  f.tags,
];

/** The statement of {@linkcode listRuns} for `filter` (its parameters: {@linkcode listRunsParams}). */
export const listRunsSql = (filter: RunFilter): string =>
  `select ${runColumns} from kagzi_runs r
   where ${filterSql(filter)} and ($9::bigint is null or r.seq < $9)
   order by r.seq desc
   limit $10`;

/** The parameters of {@linkcode listRunsSql}. */
export const listRunsParams = (
  filter: RunFilter,
  beforeSeq: bigint | null,
  limit: number,
): unknown[] => [...filterParams(filter), beforeSeq?.toString() ?? null, limit];

/** A page of runs, newest first, strictly older than the cursor `beforeSeq`. */
export async function listRuns(
  db: Queryable,
  filter: RunFilter,
  beforeSeq: bigint | null,
  limit: number,
): Promise<RunRow[]> {
  return await db.query<RunRow>(listRunsSql(filter), listRunsParams(filter, beforeSeq, limit));
}

/** How many runs match the filter. */
export async function countRuns(db: Queryable, filter: RunFilter): Promise<number> {
  const rows = await db.query<{ n: string }>(
    `select count(*)::text as n from kagzi_runs r where ${filterSql(filter)}`,
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
     where r.namespace_id = $1 and r.run_id = $2 and r.status in ${openStatuses}
     returning ${runColumns}`,
    [namespaceId, runId, error],
  );
  return rows[0];
}
