/**
 * Sync match for StartWorkflow: before a batch of starts is written, each start reserves an
 * idle poll that serves its type; the insert stores the run already claimed for that poll's
 * worker (one commit for start and claim), and the poll is answered with it. Starts without a
 * poll, or whose stored version the poll does not serve, are stored PENDING and wake one poll.
 * Runs claimed for a poll that is gone are given back ({@linkcode giveBack}).
 */
import type { Poll } from "../engine/dispatch.ts";
import * as queue from "../store/queue.ts";
import * as starts from "../store/run_starts.ts";
import type { ServiceContext } from "./_context.ts";

/** Writes a batch of starts, handing runs to waiting polls; per item what was stored. */
export function startRuns(
  ctx: ServiceContext,
): (items: starts.NewRun[]) => Promise<(starts.InsertedRun | undefined)[]> {
  const { db, dispatch, config, metrics } = ctx;
  return async (items) => {
    // A run under a concurrency or rate limit is never handed over: the claim decides.
    const polls: (Poll | undefined)[] = items.map((it) =>
      it.flow?.slots || it.flow?.rateKey !== null && it.flow?.rateKey !== undefined
        ? undefined
        : dispatch.reserve(it.namespaceId, it.workflowType)
    );
    const claimed = items.map((it, i): starts.NewRun => {
      const p = polls[i];
      if (!p) return it;
      const claim = {
        workerId: p.spec.workerId,
        versions: p.versionsOf(it.workflowType),
        leaseMs: config.leaseMs,
      };
      return { ...it, claim };
    });
    let rows: (starts.InsertedRun | undefined)[];
    try {
      rows = await starts.insertRuns(db, claimed);
    } catch (err) {
      for (const p of polls) p?.cancel();
      settle(ctx, polls);
      throw err;
    }
    items.forEach((it, i) => {
      const p = polls[i];
      const row = rows[i];
      if (p && row?.status === "RUNNING") {
        p.hand(claimedRow(it, row));
        metrics.runClaimed(it.namespaceId, it.workflowType, 0);
      } else p?.cancel();
    });
    settle(ctx, polls);
    items.forEach((it, i) => {
      const row = rows[i];
      if (row?.status === "PENDING") dispatch.runDue(it.namespaceId, it.workflowType, row.version);
    });
    return rows;
  };
}

/** Answers each reserved poll once; runs of polls that ended meanwhile go back in the queue. */
export function settle(ctx: ServiceContext, polls: (Poll | undefined)[]): void {
  for (const p of new Set(polls)) {
    if (!p) continue;
    const back = p.settle();
    if (back.length) void giveBack(ctx, p.spec.namespaceId, back);
  }
}

function claimedRow(run: starts.NewRun, row: starts.InsertedRun): queue.ClaimedRow {
  return {
    run_id: row.run_id,
    workflow_id: run.workflowId,
    workflow_type: run.workflowType,
    version: row.version,
    fence: row.fence,
    attempt: 1,
    locked_until: row.locked_until!,
    retry_policy: run.retryPolicy,
    resumed: false,
    input_data: run.input.data,
    input_metadata: run.input.metadata,
    context_data: run.context?.data ?? null,
    context_metadata: run.context?.metadata ?? null,
    traceparent: run.traceparent ?? null,
    queued_s: 0,
  };
}

/** Puts runs claimed for a poll that is gone back in the queue and wakes another poll. */
export async function giveBack(
  ctx: ServiceContext,
  namespaceId: string,
  rows: queue.ClaimedRow[],
): Promise<void> {
  try {
    await queue.unclaimRuns(ctx.db, namespaceId, rows);
  } catch (err) {
    // Not put back: the lease expires and the ticker recovers the runs.
    ctx.log.warn("giving back runs of a closed poll failed", err);
    return;
  }
  for (const r of rows) ctx.dispatch.wakeOne(namespaceId, r.workflow_type, r.version);
}

/**
 * A held run that its suspension left due at once (a Sleep whose wake-up had passed): claimed
 * by id for a poll of this server waiting for its type, as a start is handed over, instead of
 * waking polls to search for it. False when no poll waits, or the run is not so claimed (a paused
 * type, flow control, another server's claim): then wake polls as for any due run.
 */
export async function handDueRun(
  ctx: ServiceContext,
  namespaceId: string,
  runId: string,
  workflowType: string,
): Promise<boolean> {
  const poll = ctx.dispatch.reserve(namespaceId, workflowType);
  if (!poll) return false;
  let row: queue.ClaimedRow | undefined;
  try {
    row = await queue.claimRun(
      ctx.db,
      namespaceId,
      runId,
      poll.versionsOf(workflowType),
      poll.spec.workerId,
      ctx.config.leaseMs,
    );
  } catch (err) {
    ctx.log.debug("claiming a run due at once for a waiting poll failed", err);
  }
  if (row) {
    poll.hand(row);
    ctx.metrics.runClaimed(namespaceId, workflowType, row.queued_s);
  } else poll.cancel();
  settle(ctx, [poll]);
  return row !== undefined;
}
