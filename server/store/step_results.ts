/**
 * SQL for the results of FUNCTION steps: outputs in one statement (`completeSteps`) and its twin
 * for a lone output (`completeStep`), and failed attempts (`failStep`).
 */
import { base64, type Queryable } from "./db.ts";
import type { StepKey } from "./steps.ts";

/** How a step output's statement locks its run (see {@linkcode completeSteps}). */
export type RunLock = "share" | "no key update";

/** A step output to store, for {@linkcode completeSteps}. */
export interface StepOutput {
  key: StepKey;
  output: { data: Uint8Array; metadata: Record<string, string> };
  startedAt: Date | null;
}

/**
 * What storing a step output did: `held` false when the lease is lost; `attempt` null when an
 * output was stored before; `paused` when the run was paused (by PauseWorkflow) while the step ran:
 * the output of the holder (same fence) is still stored, and the fence moves on, so it is the
 * holder's last write: the execution stops there.
 */
export interface StepStored {
  held: boolean;
  attempt: number | null;
  workflow_type: string | null;
  paused: boolean;
}

/**
 * Stores step outputs, each as its step's next attempt, in one statement, for
 * the runs still held with the given fence. Per item: `held` false when the
 * lease is lost; `attempt` null when an output was already stored, or an earlier
 * item of the batch offered one for the same step (the first wins). `lock` is
 * how the runs are locked: `no key update` when the same transaction then
 * updates them (a completion, a suspension), so it never upgrades a share lock
 * while another transaction (a cancel's cascade) waits for the row: a deadlock.
 */
export async function completeSteps(
  db: Queryable,
  items: StepOutput[],
  lock: RunLock = "share",
): Promise<StepStored[]> {
  if (items.length === 1) return [await completeStep(db, items[0], lock)];
  const rows = await db.query<StepStored & { idx: number }>(
    `with input as (
       select * from unnest($1::text[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::int[],
                            $7::text[], $8::text[], $9::text[])
         with ordinality as i(namespace_id, run_id, fence, worker_id, name, occurrence, output,
                              metadata, started_at, idx)),
     -- Locked in run order, as heartbeats and completions lock them (no deadlocks).
     held as (
       select i.*, r.workflow_type, r.status = 'PAUSED' as paused from input i
       join kagzi_runs r on r.namespace_id = i.namespace_id and r.run_id = i.run_id
                        and r.fence = i.fence and r.status in ('RUNNING', 'PAUSED')
       order by r.namespace_id, r.run_id
       for ${lock} of r),
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
     -- Paused while the step ran: this output was the holder's last write (the fence moves on).
     unhold as (
       update kagzi_runs r set fence = r.fence + 1
       from held h
       where r.namespace_id = h.namespace_id and r.run_id = h.run_id and r.fence = h.fence
         and h.paused),
     stored as (
       select f.idx, ins.attempt from first f
       join ins on ins.run_id = f.run_id and ins.name = f.name and ins.occurrence = f.occurrence)
     select i.idx::int, h.idx is not null as held, s.attempt, h.workflow_type,
            coalesce(h.paused, false) as paused
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
  return rows.map((r) => ({
    held: r.held,
    attempt: r.attempt,
    workflow_type: r.workflow_type,
    paused: r.paused,
  }));
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

/**
 * One step output, as `completeSteps` stores it: the statement of a step completed
 * alone (the common case when a run is not under load), about half the cost of the batch form.
 */
export async function completeStep(
  db: Queryable,
  item: StepOutput,
  lock: RunLock = "share",
): Promise<StepStored> {
  const [row] = await db.query<
    { workflow_type: string | null; attempt: number | null; paused: boolean | null }
  >(
    `with ${stepOutputCtes(lock)}
     select (select workflow_type from r) as workflow_type, (select attempt from ins) as attempt,
            (select paused from r) as paused`,
    stepOutputParams(item),
  );
  return {
    held: row.workflow_type !== null,
    attempt: row.attempt,
    workflow_type: row.workflow_type,
    paused: row.paused === true,
  };
}

/**
 * The CTEs that store one step output under its lease: `r` (the held run, locked `lock`), `ins`
 * (the output as the step's next attempt) and `unhold` (a run paused while the step ran: this
 * output was the holder's last write, the fence moves on). Parameters: $1 namespace, $2 run,
 * $3 fence, $4 worker, $5 name, $6 occurrence, $7 output, $8 its metadata, $9 when it started.
 */
export function stepOutputCtes(lock: RunLock): string {
  return `r as (
       select workflow_type, status = 'PAUSED' as paused from kagzi_runs
       where namespace_id = $1 and run_id = $2 and fence = $3 and status in ('RUNNING', 'PAUSED')
       for ${lock}),
     ins as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                output, output_metadata, output_size, worker_id, started_at,
                                finished_at)
       select $1, $2, 'FUNCTION', $5, $6,
              1 + coalesce((select max(s.attempt) from kagzi_steps s
                            where s.namespace_id = $1 and s.run_id = $2 and s.kind = 'FUNCTION'
                              and s.name = $5 and s.occurrence = $6), 0),
              'COMPLETED', $7, $8::jsonb, octet_length($7), $4,
              coalesce($9::timestamptz, now()), now()
       from r
       on conflict do nothing
       returning attempt),
     -- Paused while the step ran: this output was the holder's last write (the fence moves on).
     unhold as (
       update kagzi_runs set fence = fence + 1
       where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'PAUSED'
         and exists (select 1 from r))`;
}

/**
 * The parameters $1 to $9 of {@linkcode stepOutputCtes} for `item`; with `lease`, the run and
 * fence the statement's other CTEs act on, which the output's key must name.
 */
export function stepOutputParams(
  item: StepOutput,
  lease?: { namespaceId: string; runId: string; fence: string },
): unknown[] {
  const { key } = item;
  if (
    lease &&
    (key.namespaceId !== lease.namespaceId || key.runId !== lease.runId ||
      key.fence !== lease.fence)
  ) throw new Error("a carried step output's key is not its call's lease");
  return [
    key.namespaceId,
    key.runId,
    key.fence,
    key.workerId,
    key.name,
    key.occurrence,
    item.output.data,
    // A jsonb parameter: postgres.js serializes the object itself.
    item.output.metadata,
    item.startedAt?.toISOString() ?? null,
  ];
}
