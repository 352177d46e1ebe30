/** SQL for the run queue: claims, leases, suspension, wake-ups and the sweeps of the ticker. */
import type { Queryable } from "./db.ts";
import type { FinishedRun } from "./run_ends.ts";
import { openStatuses, type RunStatus } from "./runs.ts";
import { lockedFirst, lockSlotsOf } from "./slot_locks.ts";

export { type ClaimedRow, claimRun, claimRuns } from "./claim.ts";

/** Sets the leases a worker still holds to now + lease (never further); returns the runs extended. */
export async function extendLeases(
  db: Queryable,
  namespaceId: string,
  workerId: string,
  runIds: string[],
  fences: string[],
  leaseMs: number,
): Promise<string[]> {
  const rows = await db.query<{ run_id: string }>(
    // A run paused while its holder runs a step stays that holder's (same fence) until the
    // step's output is stored: its lease is not extended, but it is not lost either.
    // Rows are locked in run order first, as the batches of step outputs and completions lock
    // them: a heartbeat and a batch sharing runs never deadlock.
    `with held as (
       select r.namespace_id, r.run_id, r.fence from kagzi_runs r
       join unnest($3::uuid[], $4::bigint[]) as l(run_id, fence)
         on r.run_id = l.run_id and r.fence = l.fence
       where r.namespace_id = $1
         and (r.worker_id = $2 and r.status = 'RUNNING' or r.status = 'PAUSED')
       order by r.namespace_id, r.run_id
       for no key update of r)
     update kagzi_runs r
     set locked_until = case when r.status = 'RUNNING'
                             then now() + $5 * interval '1 millisecond' end
     from held h
     where r.namespace_id = h.namespace_id and r.run_id = h.run_id and r.fence = h.fence
       and (r.worker_id = $2 and r.status = 'RUNNING' or r.status = 'PAUSED')
     returning r.run_id::text`,
    [namespaceId, workerId, runIds, fences, leaseMs],
  );
  return rows.map((r) => r.run_id);
}

/** Current status of runs (to tell a worker which of its runs were cancelled). */
export async function runStatuses(
  db: Queryable,
  namespaceId: string,
  runIds: string[],
): Promise<{ run_id: string; status: RunStatus }[]> {
  return await db.query(
    `select run_id::text, status from kagzi_runs where namespace_id = $1 and run_id = any($2::uuid[])`,
    [namespaceId, runIds],
  );
}

/** Makes a worker's running runs available again at once (graceful release). */
export async function releaseWorkerRuns(
  db: Queryable,
  namespaceId: string,
  workerId: string,
): Promise<number> {
  const rows = await db.query(
    `update kagzi_runs set status = 'PENDING', worker_id = null, locked_until = null,
                           available_at = now(), updated_at = now()
     where namespace_id = $1 and worker_id = $2 and status = 'RUNNING'
     returning 1`,
    [namespaceId, workerId],
  );
  return rows.length;
}

/**
 * Puts claimed runs back in the queue, due at once, when the poll they were claimed for is gone
 * before it could be answered (its caller hung up). Fenced: only the claim made for that poll.
 */
export async function unclaimRuns(
  db: Queryable,
  namespaceId: string,
  runs: { run_id: string; fence: string }[],
): Promise<void> {
  await db.query(
    `update kagzi_runs r set status = 'PENDING', worker_id = null, locked_until = null,
                             available_at = now(), updated_at = now()
     from unnest($2::uuid[], $3::bigint[]) as l(run_id, fence)
     where r.namespace_id = $1 and r.run_id = l.run_id and r.fence = l.fence
       and r.status = 'RUNNING'`,
    [namespaceId, runs.map((r) => r.run_id), runs.map((r) => r.fence)],
  );
}

/** Where a suspension goes: its run, under its lease, with the sleeps it records. */
export interface Suspension {
  namespaceId: string;
  runId: string;
  fence: string;
  workerId: string;
  sleeps: SleepEntry[];
  resumeAt: Date | null;
  /**
   * The worker keeps the run through its sleeps (SleepRequest.hold): they are recorded, and the
   * run stays RUNNING under the lease instead of suspending.
   */
  hold?: boolean;
}

/** A durable sleep to record when suspending. */
export interface SleepEntry {
  name: string;
  occurrence: number;
  wakeUpAt: Date;
}

/**
 * What a suspension's statement also stores first (the step outputs it carries): CTEs that use
 * $1 namespace, $2 run, $3 fence, $4 worker as the suspension does, and `params` from $5 on; the
 * run suspends only when `gate` (an SQL condition over them) holds.
 */
export interface SuspendCarry {
  ctes: string;
  params: unknown[];
  gate: string;
}

/**
 * Suspends a held run until `resumeAt` (null: until a signal or a child's end wakes it),
 * recording its new sleeps; SLEEPING when it sleeps or waits, PENDING when it only waits for
 * a retry. When a wake-up arrived while the run was held (`wake_pending`), the run is due at
 * once. With `hold`, the sleeps are recorded and the run stays RUNNING under the lease (due when
 * `resumeAt` passed by the database's clock; `resumeAt` is required). Undefined when the lease
 * is lost (or `carry`'s gate did not hold), else whether the run is due now, and its type. One
 * statement, with what `carry` stores.
 */
export async function suspendRun(
  db: Queryable,
  s: Suspension,
  carry?: SuspendCarry,
): Promise<{ due: boolean; workflowType: string } | undefined> {
  const { namespaceId, runId, fence, workerId, sleeps, resumeAt, hold } = s;
  // The suspension's own values follow the carried ones.
  const at = 5 + (carry?.params.length ?? 0);
  const [p, names, occurrences, wakeUps] = [0, 1, 2, 3].map((i) => `$${at + i}`);
  const rows = await db.query<{ held: boolean; due: boolean; workflow_type: string | null }>(
    `with ${carry ? `${carry.ctes},` : ""}
     run as (
       update kagzi_runs x
       set ${hold ? "updated_at = now()" : suspendedSet(p, names)}
       where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING'
         ${hold ? `and ${p}::timestamptz is not null` : ""} ${carry ? `and ${carry.gate}` : ""}
       returning run_id, workflow_type,
                 ${hold ? `${p}::timestamptz <= now()` : "available_at <= now()"} as due),
     sleeps as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                worker_id, wake_up_at)
       select $1, run.run_id, 'SLEEP', s.name, s.occurrence, 1, 'SLEEPING', $4, s.wake_up_at
       from run, unnest(${names}::text[], ${occurrences}::int[],
                        ${wakeUps}::text[]::timestamptz[]) as s(name, occurrence, wake_up_at)
       on conflict do nothing)
     select exists (select 1 from run) as held, coalesce((select due from run), false) as due,
            (select workflow_type from run) as workflow_type`,
    [
      namespaceId,
      runId,
      fence,
      workerId,
      ...carry?.params ?? [],
      resumeAt,
      sleeps.map((s) => s.name),
      sleeps.map((s) => s.occurrence),
      sleeps.map((s) => s.wakeUpAt.toISOString()),
    ],
  );
  const row = rows[0];
  return row.held ? { due: row.due, workflowType: row.workflow_type ?? "" } : undefined;
}

/**
 * A suspended run's new state: SLEEPING when it sleeps (a new sleep, or one recorded before and
 * not over) or waits, PENDING when it only waits for a retry; due at once when a wake-up arrived
 * while it was held (`wake_pending`).
 */
function suspendedSet(resumeAt: string, names: string): string {
  return `status = case when cardinality(${names}::text[]) > 0 or ${resumeAt}::timestamptz is null
                            or exists (select 1 from kagzi_steps w
                                       where w.namespace_id = $1 and w.run_id = $2
                                         and (w.status = 'WAITING' or (w.status = 'SLEEPING'
                                              and w.wake_up_at > now())))
                       then 'SLEEPING' else 'PENDING' end,
         available_at = case when x.wake_pending then now()
                             else coalesce(${resumeAt}::timestamptz, 'infinity') end,
         wake_up_at = case when x.wake_pending then null else ${resumeAt}::timestamptz end,
         wake_pending = false, worker_id = null, locked_until = null, updated_at = now()`;
}

/**
 * Whether the run is still RUNNING under this lease (not cancelled, paused or reclaimed): how
 * many ms are left until `at` by the database's clock (0 once it passed), or undefined.
 */
export async function heldUntil(
  db: Queryable,
  namespaceId: string,
  runId: string,
  fence: string,
  at: Date,
): Promise<number | undefined> {
  const rows = await db.query<{ left_ms: number }>(
    `select greatest(0, extract(epoch from ($4::timestamptz - now())) * 1000)::float8 as left_ms
     from kagzi_runs
     where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING'`,
    [namespaceId, runId, fence, at.toISOString()],
  );
  return rows[0] ? Math.ceil(rows[0].left_ms) : undefined;
}

/** Runs whose lease expired go back to PENDING with one more attempt; returns their namespaces. */
export async function recoverExpiredLeases(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ namespace_id: string }>(
    `with expired as (
       select namespace_id, run_id from kagzi_runs
       where status = 'RUNNING' and locked_until < now()
       limit 1000
       for update skip locked)
     update kagzi_runs r
     set status = 'PENDING', worker_id = null, locked_until = null, available_at = now(),
         attempt = r.attempt + 1, updated_at = now()
     from expired where r.namespace_id = expired.namespace_id and r.run_id = expired.run_id
     returning r.namespace_id`,
  );
  return [...new Set(rows.map((r) => r.namespace_id))];
}

/** Due sleepers become PENDING; returns the namespaces that have due work. */
export async function wakeDueRuns(db: Queryable): Promise<string[]> {
  const rows = await db.query<{ namespace_id: string }>(
    `with woken as (
       update kagzi_runs set status = 'PENDING', updated_at = now()
       where status = 'SLEEPING' and available_at <= now()
       returning namespace_id)
     select distinct namespace_id from woken
     union
     select distinct namespace_id from kagzi_runs
     where status = 'PENDING' and available_at <= now()`,
  );
  return rows.map((r) => r.namespace_id);
}

/** The next time a waiting run becomes due, within `horizonMs`, per namespace. */
export async function nextDue(
  db: Queryable,
  horizonMs: number,
): Promise<{ namespace_id: string; at: Date }[]> {
  return await db.query(
    `select namespace_id, min(available_at) as at from kagzi_runs
     where status in ('PENDING', 'SLEEPING') and available_at > now()
       and available_at <= now() + $1 * interval '1 millisecond'
     group by namespace_id`,
    [horizonMs],
  );
}

/** Fails non-terminal runs past their deadline with a TIMEOUT error; returns them. */
export async function failOverdueRuns(
  db: Queryable,
): Promise<({ namespace_id: string; run_id: string } & FinishedRun)[]> {
  return await db.query(
    `with overdue as (
       select namespace_id, run_id, workflow_type, flow_slots from kagzi_runs
       where deadline_at < now() and status in ${openStatuses}
       limit 1000
       for update skip locked),
     ${lockSlotsOf("slots", "overdue")}
     update kagzi_runs r
     set status = 'FAILED', finished_at = now(), updated_at = now(), locked_until = null,
         error = jsonb_build_object(
           'code', 'ERROR_CODE_TIMEOUT', 'name', 'DeadlineExceededError', 'nonRetryable', true,
           'subject', 'run', 'subjectId', r.run_id::text,
           'message', 'Run passed its deadline ' ||
                      to_char(r.deadline_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
     from overdue where r.namespace_id = overdue.namespace_id and r.run_id = overdue.run_id
       and ${lockedFirst("slots")}
     returning r.namespace_id, r.run_id::text, r.workflow_type,
               extract(epoch from r.finished_at - r.created_at)::float8 as duration_s`,
  );
}
