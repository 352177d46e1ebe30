/**
 * SQL for signals: a per-run mailbox (FIFO per name) and the SIGNAL steps that take from it.
 * Delivery and taking both lock the run's row, so a signal can never slip between a wait
 * being recorded and the run suspending: whichever comes second sees the other.
 */
import { base64, type Queryable } from "./db.ts";
import type { RunStatus } from "./runs.ts";
import { stepColumns, type StepKey, type StepRow } from "./steps.ts";

/** A row of kagzi_signals. */
export interface SignalRow {
  signal_id: string;
  run_id: string;
  seq: string;
  name: string;
  data: Uint8Array | null;
  metadata: Record<string, string> | null;
  idempotency_key: string | null;
  created_at: Date;
  consumed_at: Date | null;
  consumed_by: number | null;
}

/** A signal to store. */
export interface NewSignal {
  namespaceId: string;
  runId: string;
  name: string;
  payload: { data: Uint8Array; metadata: Record<string, string> } | null;
  idempotencyKey: string | null;
}

/** What delivering a signal found. */
export type DeliverResult =
  | { kind: "stored"; signalId: string; woke: boolean }
  | { kind: "duplicate"; signalId: string }
  | { kind: "not_found" }
  | { kind: "finished"; status: RunStatus }
  | { kind: "full"; pending: number };

/** Locks a run's row and returns its status, or undefined when there is no such run. */
export async function lockRun(
  tx: Queryable,
  namespaceId: string,
  runId: string,
): Promise<RunStatus | undefined> {
  const rows = await tx.query<{ status: RunStatus }>(
    `select status from kagzi_runs where namespace_id = $1 and run_id = $2 for update`,
    [namespaceId, runId],
  );
  return rows[0]?.status;
}

/**
 * Stores a signal in a run's mailbox (inside the caller's transaction) and wakes the run
 * when one of its waits is for this name. Nothing is written unless it is stored.
 */
export async function deliverSignal(
  tx: Queryable,
  s: NewSignal,
  maxPending: number,
): Promise<DeliverResult> {
  const status = await lockRun(tx, s.namespaceId, s.runId);
  if (!status) return { kind: "not_found" };
  if (s.idempotencyKey !== null) {
    const dup = await tx.query<{ signal_id: string }>(
      `select signal_id::text from kagzi_signals
       where namespace_id = $1 and run_id = $2 and idempotency_key = $3`,
      [s.namespaceId, s.runId, s.idempotencyKey],
    );
    if (dup[0]) return { kind: "duplicate", signalId: dup[0].signal_id };
  }
  if (status === "COMPLETED" || status === "FAILED" || status === "CANCELLED") {
    return { kind: "finished", status };
  }
  const pending = await tx.query<{ n: number }>(
    `select count(*)::int as n from kagzi_signals
     where namespace_id = $1 and run_id = $2 and consumed_at is null`,
    [s.namespaceId, s.runId],
  );
  if (pending[0].n >= maxPending) return { kind: "full", pending: pending[0].n };
  const signalId = crypto.randomUUID();
  await tx.query(
    `insert into kagzi_signals (namespace_id, run_id, signal_id, name, data, metadata,
                                idempotency_key)
     values ($1, $2, $3, $4, decode($5, 'base64'), $6::jsonb, $7)`,
    [
      s.namespaceId,
      s.runId,
      signalId,
      s.name,
      s.payload ? base64(s.payload.data) : null,
      s.payload ? s.payload.metadata : null,
      s.idempotencyKey,
    ],
  );
  const woken = await tx.query<{ due: boolean }>(
    `update kagzi_runs r
     set wake_pending = r.status = 'RUNNING',
         available_at = case when r.status in ('PENDING', 'SLEEPING')
                             then least(r.available_at, now()) else r.available_at end,
         wake_up_at = case when r.status in ('PENDING', 'SLEEPING') then null
                           else r.wake_up_at end,
         updated_at = now()
     where r.namespace_id = $1 and r.run_id = $2
       and exists (select 1 from kagzi_steps w
                   where w.namespace_id = $1 and w.run_id = $2 and w.status = 'WAITING'
                     and ((w.kind = 'SIGNAL' and w.name = $3)
                       -- a wait for any with a branch waiting for this name (migration 0013)
                       or (w.kind = 'ANY' and w.waits -> 'branches' @> jsonb_build_array(
                             jsonb_build_object('kind', 'SIGNAL', 'name', $3::text)))))
     returning r.status <> 'RUNNING' as due`,
    [s.namespaceId, s.runId, s.name],
  );
  return { kind: "stored", signalId, woke: woken[0]?.due ?? false };
}

/**
 * For a held run's wait: its stored record when it already ended; else takes the oldest
 * unconsumed signal of the name (COMPLETED), or times out (FAILED), or records the wait
 * (WAITING). Undefined when the lease is lost. Runs inside the caller's transaction.
 */
export async function receiveSignal(
  tx: Queryable,
  k: StepKey,
  timeoutAt: Date | null,
  timeoutError: (at: Date) => unknown,
  now: number = Date.now(),
): Promise<StepRow | undefined> {
  const held = await tx.query(
    `select 1 from kagzi_runs
     where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING' for update`,
    [k.namespaceId, k.runId, k.fence],
  );
  if (!held.length) return undefined;
  const key = [k.namespaceId, k.runId, k.name, k.occurrence];
  const existing = await tx.query<StepRow>(
    `select ${stepColumns} from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind = 'SIGNAL' and name = $3
       and occurrence = $4`,
    key,
  );
  const step = existing[0];
  if (step && step.status !== "WAITING") return step;
  const deadline = step ? step.wake_up_at : timeoutAt;
  const taken = await tx.query<{ signal_id: string }>(
    `with next as (
       select signal_id from kagzi_signals
       where namespace_id = $1 and run_id = $2 and name = $3 and consumed_at is null
       order by seq limit 1)
     update kagzi_signals s set consumed_at = now(), consumed_by = $4
     from next where s.namespace_id = $1 and s.run_id = $2 and s.signal_id = next.signal_id
     returning s.signal_id::text`,
    key,
  );
  let status: "COMPLETED" | "FAILED" | "WAITING" = "WAITING";
  let error: unknown = null;
  if (taken[0]) status = "COMPLETED";
  else if (deadline && deadline.getTime() <= now) {
    status = "FAILED";
    error = timeoutError(deadline);
  }
  const rows = await tx.query<StepRow>(
    `insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                              output, output_metadata, output_size, error, worker_id, wake_up_at,
                              finished_at)
     select $1, $2, 'SIGNAL', $3, $4, 1, $5, g.data, g.metadata,
            coalesce(octet_length(g.data), 0), $7::jsonb, $8, $9,
            case when $5 = 'WAITING' then null else now() end
     from (select 1) one
     left join kagzi_signals g on g.namespace_id = $1 and g.run_id = $2 and g.signal_id = $6
     on conflict (namespace_id, run_id, kind, name, occurrence, attempt) do update
       set status = excluded.status, output = excluded.output,
           output_metadata = excluded.output_metadata, output_size = excluded.output_size,
           error = excluded.error, worker_id = excluded.worker_id,
           finished_at = excluded.finished_at
     returning ${stepColumns}`,
    [
      ...key,
      status,
      taken[0]?.signal_id ?? null,
      error,
      k.workerId,
      deadline,
    ],
  );
  return rows[0];
}

/** A page of a run's signals, oldest first, after the cursor `afterSeq`. */
export async function listSignals(
  db: Queryable,
  namespaceId: string,
  runId: string,
  name: string,
  afterSeq: bigint | null,
  limit: number,
): Promise<SignalRow[]> {
  return await db.query<SignalRow>(
    `select signal_id::text, run_id::text, seq::text, name, data, metadata, idempotency_key,
            created_at, consumed_at, consumed_by
     from kagzi_signals
     where namespace_id = $1 and run_id = $2 and ($3 = '' or name = $3)
       and ($4::bigint is null or seq > $4)
     order by seq limit $5`,
    [namespaceId, runId, name, afterSeq?.toString() ?? null, limit],
  );
}
