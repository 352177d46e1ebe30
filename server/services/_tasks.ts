/**
 * Runs handed to a worker: the tasks of claimed runs (with the stored steps of a run claimed
 * before), and a claim made at once, without waiting, for a Report that asks for the slots its
 * completions free (`ReportRequest.max_tasks`).
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Task, TaskSchema } from "@kagzi/proto";
import type * as queue from "../store/queue.ts";
import * as steps from "../store/steps.ts";
import { streamCursors } from "../store/streams.ts";
import type { Claimed, PollClaims } from "./_claims.ts";
import type { ServiceContext } from "./_context.ts";
import { payloadOf, retryFromJson } from "./_convert.ts";
import { giveBack } from "./_handoff.ts";
import { stepRecordToProto } from "./_steps.ts";
import type { WorkerInfo } from "./_worker_cache.ts";

/** Most runs one PollTask or Report is handed. */
export const maxTasksPerCall = 100;

/** The tasks of claimed runs; a run claimed before gets its stored steps with it. */
export async function tasksFor(
  ctx: ServiceContext,
  namespaceId: string,
  claimed: queue.ClaimedRow[],
  expiresIn: number,
  requestUrl: string,
): Promise<Task[]> {
  if (claimed.length === 0) return [];
  // Only a run claimed before can have stored steps: a first claim costs no history query.
  const resumed = claimed.filter((c) => c.resumed).map((c) => c.run_id);
  // Two reads at once, on two of the pool's connections: a woken run waits for both.
  const [history, cursors] = resumed.length
    ? await Promise.all([
      steps.latestSteps(ctx.db, namespaceId, resumed),
      streamCursors(ctx.db, namespaceId, resumed),
    ])
    : [[], []];
  const tasks = claimed.map((c) =>
    create(TaskSchema, {
      runId: c.run_id,
      workflowId: c.workflow_id,
      workflowType: c.workflow_type,
      version: c.version,
      fence: BigInt(c.fence),
      attempt: c.attempt,
      lockedUntil: timestampFromDate(c.locked_until),
      leaseExpiresIn: durationFromMs(expiresIn),
      input: payloadOf(c.input_data, c.input_metadata),
      context: payloadOf(c.context_data, c.context_metadata),
      retryPolicy: retryFromJson(c.retry_policy),
      steps: history.filter((s) => s.run_id === c.run_id).map(stepRecordToProto),
      traceparent: c.traceparent ?? "",
      streams: cursors.filter((s) => s.run_id === c.run_id).map((s) => ({
        name: s.name,
        nextOffset: BigInt(s.next_offset),
        closed: s.closed,
      })),
    })
  );
  // TOKEN steps carry their signed URL (the replay hands the same token to the code again).
  await ctx.tokens.fillUrls(requestUrl, namespaceId, tasks.flatMap((t) => t.steps));
  return tasks;
}

/** Whose runs a claim is for: the worker, what it serves, how many runs. */
export interface ClaimFor {
  namespaceId: string;
  workerId: string;
  info: WorkerInfo;
  limit: number;
  /** A caller that hung up meanwhile is claimed nothing. */
  signal: AbortSignal;
}

/**
 * One claim of due runs for a worker (a poll's, or a Report's): none, and no query, when its
 * last claim found all there was and nothing became due since; else the shared claim statement.
 * Records what the claim found for the next one, and counts the runs claimed. `deferred` counts
 * runs left due behind others of this claim (a concurrency slot's room).
 */
export async function claimDue(
  ctx: ServiceContext,
  claims: PollClaims,
  ask: ClaimFor,
): Promise<Claimed> {
  const { namespaceId, workerId, info, limit } = ask;
  const token = ctx.dispatch.mustClaim(namespaceId, workerId);
  if (!token.must) return [];
  const claimed = await claims.claim({
    namespaceId,
    types: info.types,
    versions: info.versions,
    workerId,
    limit,
    signal: ask.signal,
  });
  const full = claimed.length >= limit || (claimed.deferred ?? 0) > 0;
  ctx.dispatch.claimed(namespaceId, workerId, token.seq, full);
  for (const c of claimed) ctx.metrics.runClaimed(namespaceId, c.workflow_type, c.queued_s);
  return claimed;
}

/**
 * Claims up to `limit` due runs for the worker now, without waiting ({@linkcode claimDue}), and
 * makes their tasks; runs claimed for a caller that hung up meanwhile go back to the queue.
 */
export async function claimNow(
  ctx: ServiceContext,
  claims: PollClaims,
  ask: ClaimFor & {
    /** performance.now() when the request arrived (leases count from there). */
    received: number;
    url: string;
  },
): Promise<Task[]> {
  const limit = Math.min(ask.limit, maxTasksPerCall);
  if (limit <= 0 || ask.signal.aborted) return [];
  const expiresIn = Math.floor(performance.now() - ask.received) + ctx.config.leaseMs;
  const claimed = await claimDue(ctx, claims, { ...ask, limit });
  if (claimed.length && ask.signal.aborted) {
    await giveBack(ctx, ask.namespaceId, claimed);
    return [];
  }
  return await tasksFor(ctx, ask.namespaceId, claimed, expiresIn, ask.url);
}
