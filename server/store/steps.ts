/** SQL for steps: one row per attempt; a step's identity is (kind, name, occurrence). */
import type { Queryable } from "./db.ts";

/** Step kinds as stored. */
export type StepKind = "FUNCTION" | "SLEEP" | "SIGNAL" | "CHILD" | "TOKEN" | "ANY";
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
  /** For a TOKEN step: the token's id (migration 0013). */
  token_id: string | null;
  /** For an ANY step that ended: the key of the branch that won. */
  any_key: string | null;
  /** The wake-up or retry time has passed (as of the query). */
  due: boolean;
  /** Set on an attempt set aside by a resume "from here" (kagzi_superseded_steps). */
  superseded_at?: Date | null;
}

// A sleep whose wake-up has passed shows as COMPLETED.
/** The columns of a {@linkcode StepRow}. */
export const stepColumns = `run_id::text, kind, name, occurrence, attempt,
  case when kind = 'SLEEP' and wake_up_at <= now() then 'COMPLETED' else status end as status,
  output, output_metadata,
  error, worker_id, output_size, started_at, finished_at, retry_at, wake_up_at,
  child_run_id::text, token_id::text, waits ->> 'winner' as any_key,
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

/**
 * Identifies one step of a held run, for every write under its lease: FUNCTION results
 * (`step_results.ts`), SIGNAL waits (`signals.ts`) and CHILD starts (`children.ts`).
 */
export interface StepKey {
  namespaceId: string;
  runId: string;
  fence: string;
  workerId: string;
  kind: StepKind;
  name: string;
  occurrence: number;
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

/**
 * Every attempt of every step of a run, in the order they started, after an offset; those a
 * resume "from here" set aside are among them, with `superseded_at`.
 */
export async function listStepAttempts(
  db: Queryable,
  namespaceId: string,
  runId: string,
  offset: number,
  limit: number,
): Promise<StepRow[]> {
  return await db.query<StepRow>(
    `select * from (
       select ${stepColumns}, null::timestamptz as superseded_at from kagzi_steps
       where namespace_id = $1 and run_id = $2
       union all
       select ${stepColumns}, superseded_at from kagzi_superseded_steps
       where namespace_id = $1 and run_id = $2) s
     order by started_at, superseded_at nulls last, kind, name, occurrence, attempt
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
     where (status = 'WAITING' and not (kind = 'TOKEN' and wake_up_at <= now()))
        or (status = 'SLEEPING' and wake_up_at > now())
        or (status = 'FAILED' and retry_at > now())
     order by started_at`,
    [namespaceId, runId],
  );
}

/**
 * A run's signal waits, children, tokens and waits for any: `waiting` when one is open (a WAITING step), `satisfied`
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
     where namespace_id = $1 and run_id = $2 and kind in ('SIGNAL', 'CHILD', 'TOKEN', 'ANY')`,
    [namespaceId, runId],
  );
  return row.waiting ? "waiting" : row.waits ? "satisfied" : "none";
}
