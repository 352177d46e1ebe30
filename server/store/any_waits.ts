/**
 * SQL for waits for any of several (migration 0013): an ANY step of a held run names its
 * branches — signal waits, tokens, children and sleeps — and records which one resolved first.
 * Deciding locks the run's row, as signal delivery and token completion do, so the winner is
 * decided once, against everything committed before it; a signal that did not win stays in the
 * mailbox for a later wait.
 */
import { base64, type Queryable } from "./db.ts";
import { stepColumns, type StepKey, type StepRow } from "./steps.ts";

/** One branch of an ANY step, as stored in its `waits`. */
export interface AnyBranchJson {
  key: string;
  kind: "SIGNAL" | "TOKEN" | "CHILD" | "SLEEP";
  name: string;
  occurrence: number;
  /** SLEEP: when it wakes; SIGNAL: when the wait times out (ISO time), or null. */
  deadline: string | null;
}

/** The errors a branch that timed out settles with (ErrorDetail JSON). */
export interface AnyTimeouts {
  signal(name: string, at: Date): unknown;
  token(name: string, at: Date): unknown;
}

/** What a branch resolved with, and when. */
interface Resolution {
  index: number;
  at: Date;
  data: Uint8Array | null;
  metadata: Record<string, string> | null;
  error: unknown;
  /** A signal taken by the winning branch. */
  signalId?: string;
}

/** What {@linkcode awaitAny} found. */
export type AwaitAnyResult =
  | { kind: "lost" }
  | { kind: "missing"; branch: AnyBranchJson }
  | { kind: "step"; step: StepRow };

/**
 * For a held run's ANY step: its record when it already ended; else the branch that resolved
 * first wins (COMPLETED or FAILED with its outcome), or the wait is recorded WAITING until the
 * earliest deadline. The first call fixes the branches. Runs inside the caller's transaction.
 */
export async function awaitAny(
  tx: Queryable,
  k: StepKey,
  asked: AnyBranchJson[],
  timeouts: AnyTimeouts,
): Promise<AwaitAnyResult> {
  const [held] = await tx.query<{ now: Date }>(
    `select now() as now from kagzi_runs
     where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING' for update`,
    [k.namespaceId, k.runId, k.fence],
  );
  if (!held) return { kind: "lost" };
  const now = held.now;
  const base = [k.namespaceId, k.runId];
  const [existing] = await tx.query<StepRow & { waits: { branches: AnyBranchJson[] } | null }>(
    `select ${stepColumns}, waits from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind = 'ANY' and name = $3 and occurrence = $4`,
    [...base, k.name, k.occurrence],
  );
  if (existing && existing.status !== "WAITING") return { kind: "step", step: existing };
  const branches = existing?.waits?.branches ?? asked;
  let winner: Resolution | undefined;
  const deadlines: Date[] = [];
  for (const [index, b] of branches.entries()) {
    const found: Resolution[] = [];
    const deadline = b.deadline ? new Date(b.deadline) : null;
    if (b.kind === "SIGNAL") {
      const [sig] = await tx.query<
        {
          signal_id: string;
          created_at: Date;
          data: Uint8Array | null;
          metadata: Record<string, string> | null;
        }
      >(
        `select signal_id::text, created_at, data, metadata from kagzi_signals
         where namespace_id = $1 and run_id = $2 and name = $3 and consumed_at is null
         order by seq limit 1`,
        [...base, b.name],
      );
      if (sig) {
        found.push({
          index,
          at: sig.created_at,
          data: sig.data,
          metadata: sig.metadata,
          error: null,
          signalId: sig.signal_id,
        });
      }
    } else if (b.kind === "TOKEN" || b.kind === "CHILD") {
      const [step] = await tx.query<StepRow>(
        `select ${stepColumns} from kagzi_steps
         where namespace_id = $1 and run_id = $2 and kind = $3 and name = $4 and occurrence = $5`,
        [...base, b.kind, b.name, b.occurrence],
      );
      if (!step) return { kind: "missing", branch: b };
      if (step.status === "COMPLETED" || step.status === "FAILED") {
        found.push({
          index,
          at: step.finished_at ?? now,
          data: step.output,
          metadata: step.output_metadata,
          error: step.error,
        });
      } else if (b.kind === "TOKEN" && step.wake_up_at) {
        if (step.wake_up_at <= now) {
          found.push({
            index,
            at: step.wake_up_at,
            data: null,
            metadata: null,
            error: timeouts.token(b.name, step.wake_up_at),
          });
        } else deadlines.push(step.wake_up_at);
      }
    }
    if (deadline && deadline <= now) {
      const error = b.kind === "SIGNAL" ? timeouts.signal(b.name, deadline) : null;
      found.push({ index, at: deadline, data: null, metadata: null, error });
    } else if (deadline) deadlines.push(deadline);
    for (const r of found) {
      if (
        !winner || r.at < winner.at ||
        (r.at.getTime() === winner.at.getTime() && r.index < winner.index)
      ) winner = r;
    }
  }
  const waits = { branches, ...(winner ? { winner: branches[winner.index].key } : {}) };
  if (winner?.signalId) {
    const b = branches[winner.index];
    await tx.query(
      `update kagzi_signals set consumed_at = now(), consumed_by = $4
       where namespace_id = $1 and run_id = $2 and signal_id = $3`,
      [...base, winner.signalId, b.occurrence],
    );
    // The branch's own wait took the signal, as `ctx.waitForSignal` would have.
    await tx.query(
      `insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                output, output_metadata, output_size, worker_id, finished_at)
       values ($1, $2, 'SIGNAL', $3, $4, 1, 'COMPLETED', decode($5, 'base64'), $6::jsonb,
               coalesce(octet_length(decode($5, 'base64')), 0), $7, now())
       on conflict (namespace_id, run_id, kind, name, occurrence, attempt) do update
         set status = excluded.status, output = excluded.output,
             output_metadata = excluded.output_metadata, output_size = excluded.output_size,
             error = null, finished_at = excluded.finished_at`,
      [
        ...base,
        b.name,
        b.occurrence,
        winner.data ? base64(winner.data) : null,
        winner.metadata,
        k.workerId,
      ],
    );
  }
  const status = winner ? (winner.error ? "FAILED" : "COMPLETED") : "WAITING";
  const wakeUpAt = deadlines.length
    ? new Date(Math.min(...deadlines.map((d) => d.getTime())))
    : null;
  const [step] = await tx.query<StepRow>(
    `insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                              output, output_metadata, output_size, error, worker_id, wake_up_at,
                              waits, finished_at)
     values ($1, $2, 'ANY', $3, $4, 1, $5, decode($6, 'base64'), $7::jsonb,
             coalesce(octet_length(decode($6, 'base64')), 0), $8::jsonb, $9, $10, $11::jsonb,
             case when $5 = 'WAITING' then null else now() end)
     on conflict (namespace_id, run_id, kind, name, occurrence, attempt) do update
       set status = excluded.status, output = excluded.output,
           output_metadata = excluded.output_metadata, output_size = excluded.output_size,
           error = excluded.error, waits = excluded.waits, finished_at = excluded.finished_at,
           wake_up_at = coalesce(kagzi_steps.wake_up_at, excluded.wake_up_at)
     returning ${stepColumns}`,
    [
      ...base,
      k.name,
      k.occurrence,
      status,
      winner?.data ? base64(winner.data) : null,
      winner?.data ? winner.metadata : null,
      winner?.error ?? null,
      k.workerId,
      existing?.wake_up_at ?? wakeUpAt,
      waits,
    ],
  );
  return { kind: "step", step };
}
