/** SQL for steps: one row per attempt; a step's identity is (kind, name, occurrence). */
import type { Queryable } from "./db.ts";
import { completeStep } from "./single.ts";
import { base64 } from "./runs.ts";

/** Step kinds as stored. */
export type StepKind = "FUNCTION" | "SLEEP" | "SIGNAL" | "CHILD";
/** Step statuses as stored. */
export type StepStatus = "RUNNING" | "COMPLETED" | "FAILED" | "SLEEPING" | "WAITING";

/** A row of kagzi_steps. */
export interface StepRow {
  run_id: string;
  kind: StepKind;
  name: string;
  occurrence: number;
  attempt: number;
  status: StepStatus;
  output: Uint8Array | null;
  output_metadata: Record<string, string> | null;
  error: unknown;
  worker_id: string | null;
  output_size: number;
  started_at: Date;
  finished_at: Date | null;
  retry_at: Date | null;
  wake_up_at: Date | null;
  /** For a CHILD step: the child's run. */
  child_run_id: string | null;
  /** The wake-up or retry time has passed (as of the query). */
  due: boolean;
}

// A sleep whose wake-up has passed shows as COMPLETED.
/** The columns of a {@linkcode StepRow}. */
export const stepColumns = `run_id::text, kind, name, occurrence, attempt,
  case when kind = 'SLEEP' and wake_up_at <= now() then 'COMPLETED' else status end as status,
  output, output_metadata,
  error, worker_id, output_size, started_at, finished_at, retry_at, wake_up_at,
  child_run_id::text,
  coalesce(coalesce(wake_up_at, retry_at) <= now(), false) as due`;

/** The latest attempt of every step of the given runs (the replay history). */
export async function latestSteps(
  db: Queryable,
  namespaceId: string,
  runIds: string[],
): Promise<StepRow[]> {
  return await db.query<StepRow>(
    `select distinct on (run_id, kind, name, occurrence) ${stepColumns}
     from kagzi_steps
     where namespace_id = $1 and run_id = any($2::uuid[])
     order by run_id, kind, name, occurrence, attempt desc`,
    [namespaceId, runIds],
  );
}

/** Identifies one step of a held run. */
export interface StepKey {
  namespaceId: string;
  runId: string;
  fence: string;
  workerId: string;
  kind: StepKind;
  name: string;
  occurrence: number;
}

/** A step output to store, for {@linkcode completeSteps}. */
export interface StepOutput {
  key: StepKey;
  output: { data: Uint8Array; metadata: Record<string, string> };
  startedAt: Date | null;
}

/**
 * Stores step outputs, each as its step's next attempt, in one statement, for
 * the runs still held with the given fence. Per item: `held` false when the
 * lease is lost; `attempt` null when an output was already stored, or an earlier
 * item of the batch offered one for the same step (the first wins).
 */
export async function completeSteps(
  db: Queryable,
  items: StepOutput[],
): Promise<{ held: boolean; attempt: number | null; workflow_type: string | null }[]> {
  if (items.length === 1) return [await completeStep(db, items[0])];
  const rows = await db.query<
    { idx: number; held: boolean; attempt: number | null; workflow_type: string | null }
  >(
    `with input as (
       select * from unnest($1::text[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::int[],
                            $7::text[], $8::text[], $9::text[])
         with ordinality as i(namespace_id, run_id, fence, worker_id, name, occurrence, output,
                              metadata, started_at, idx)),
     held as (
       select i.*, r.workflow_type from input i
       join kagzi_runs r on r.namespace_id = i.namespace_id and r.run_id = i.run_id
                        and r.fence = i.fence and r.status = 'RUNNING'
       for share of r),
     -- Of several outputs for one step in a batch, the first is the one offered.
     first as (
       select distinct on (namespace_id, run_id, name, occurrence) * from held
       order by namespace_id, run_id, name, occurrence, idx),
     ins as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                output, output_metadata, output_size, worker_id, started_at,
                                finished_at)
       select h.namespace_id, h.run_id, 'FUNCTION', h.name, h.occurrence,
              1 + coalesce((select max(s.attempt) from kagzi_steps s
                            where s.namespace_id = h.namespace_id and s.run_id = h.run_id
                              and s.kind = 'FUNCTION' and s.name = h.name
                              and s.occurrence = h.occurrence), 0),
              'COMPLETED', decode(h.output, 'base64'), h.metadata::jsonb,
              octet_length(decode(h.output, 'base64')), h.worker_id,
              coalesce(h.started_at::timestamptz, now()), now()
       from first h
       on conflict do nothing
       returning run_id, name, occurrence, attempt),
     stored as (
       select f.idx, ins.attempt from first f
       join ins on ins.run_id = f.run_id and ins.name = f.name and ins.occurrence = f.occurrence)
     select i.idx::int, h.idx is not null as held, s.attempt, h.workflow_type
     from input i
     left join held h on h.idx = i.idx
     left join stored s on s.idx = i.idx
     order by i.idx`,
    [
      items.map((i) => i.key.namespaceId),
      items.map((i) => i.key.runId),
      items.map((i) => i.key.fence),
      items.map((i) => i.key.workerId),
      items.map((i) => i.key.name),
      items.map((i) => i.key.occurrence),
      items.map((i) => base64(i.output.data)),
      items.map((i) => JSON.stringify(i.output.metadata)),
      items.map((i) => i.startedAt?.toISOString() ?? null),
    ],
  );
  return rows.map((r) => ({ held: r.held, attempt: r.attempt, workflow_type: r.workflow_type }));
}

/**
 * Records a failed attempt (with `retryAt` when a retry is scheduled) if the run
 * is still held with this fence; returns the attempt number, or held false.
 */
export async function failStep(
  db: Queryable,
  k: StepKey,
  attempt: number,
  error: unknown,
  retryAt: Date | null,
  startedAt: Date | null,
): Promise<{ held: boolean; attempt: number | null }> {
  const rows = await db.query<{ held: boolean; attempt: number | null }>(
    `with run as (
       select run_id from kagzi_runs
       where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING'
       for share),
     ins as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                error, worker_id, started_at, finished_at, retry_at)
       select $1, run.run_id, $5, $6, $7, $8, 'FAILED', $9::jsonb, $4,
              coalesce($11::timestamptz, now()), now(), $10
       from run
       on conflict do nothing
       returning attempt)
     select exists (select 1 from run) as held, (select attempt from ins) as attempt`,
    [
      k.namespaceId,
      k.runId,
      k.fence,
      k.workerId,
      k.kind,
      k.name,
      k.occurrence,
      attempt,
      error,
      retryAt,
      startedAt,
    ],
  );
  return rows[0];
}

/** Every attempt of one step, oldest first. */
export async function stepAttempts(
  db: Queryable,
  namespaceId: string,
  runId: string,
  kind: StepKind,
  name: string,
  occurrence: number,
): Promise<StepRow[]> {
  return await db.query<StepRow>(
    `select ${stepColumns} from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind = $3 and name = $4 and occurrence = $5
     order by attempt`,
    [namespaceId, runId, kind, name, occurrence],
  );
}

/** Every attempt of every step of a run, in the order they started, after an offset. */
export async function listStepAttempts(
  db: Queryable,
  namespaceId: string,
  runId: string,
  offset: number,
  limit: number,
): Promise<StepRow[]> {
  return await db.query<StepRow>(
    `select ${stepColumns} from kagzi_steps
     where namespace_id = $1 and run_id = $2
     order by started_at, kind, name, occurrence, attempt
     offset $3 limit $4`,
    [namespaceId, runId, offset, limit],
  );
}

/** What a run waits for now: open signal waits and children, future sleeps and retries. */
export async function openWaits(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<StepRow[]> {
  return await db.query<StepRow>(
    `select * from (
       select distinct on (kind, name, occurrence) ${stepColumns} from kagzi_steps
       where namespace_id = $1 and run_id = $2
       order by kind, name, occurrence, attempt desc) latest
     where status = 'WAITING' or (status = 'SLEEPING' and wake_up_at > now())
        or (status = 'FAILED' and retry_at > now())
     order by started_at`,
    [namespaceId, runId],
  );
}

/**
 * A run's signal waits and children: `waiting` when one is open (a WAITING step), `satisfied`
 * when it has some and all have ended, `none` when it never waited for either.
 */
export async function waitState(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<"waiting" | "satisfied" | "none"> {
  const [row] = await db.query<{ waiting: boolean; waits: boolean }>(
    `select coalesce(bool_or(status = 'WAITING'), false) as waiting, count(*) > 0 as waits
     from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind in ('SIGNAL', 'CHILD')`,
    [namespaceId, runId],
  );
  return row.waiting ? "waiting" : row.waits ? "satisfied" : "none";
}
