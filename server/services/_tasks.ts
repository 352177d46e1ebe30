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
import type { PollClaims } from "./_claims.ts";
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
  const history = resumed.length ? await steps.latestSteps(ctx.db, namespaceId, resumed) : [];
  const cursors = resumed.length ? await streamCursors(ctx.db, namespaceId, resumed) : [];
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
  for (const t of tasks) await ctx.tokens.fillUrls(requestUrl, namespaceId, t.steps);
  return tasks;
}

/** What a claim made at once is for: the worker, how many runs, the request. */
export interface ClaimNow {
  namespaceId: string;
  workerId: string;
  info: WorkerInfo;
  limit: number;
  /** performance.now() when the request arrived (leases count from there). */
  received: number;
  signal: AbortSignal;
  url: string;
}

/**
 * Claims up to `limit` due runs for the worker now, without waiting: none when its last claim
 * found all there was and nothing became due since (no query then). Runs claimed for a caller
 * that hung up meanwhile go back to the queue.
 */
export async function claimNow(
  ctx: ServiceContext,
  claims: PollClaims,
  ask: ClaimNow,
): Promise<Task[]> {
  const { namespaceId, workerId, info } = ask;
  const limit = Math.min(ask.limit, maxTasksPerCall);
  const token = ctx.dispatch.mustClaim(namespaceId, workerId);
  if (!token.must || limit <= 0 || ask.signal.aborted) return [];
  const expiresIn = Math.floor(performance.now() - ask.received) + ctx.config.leaseMs;
  const claimed = await claims.claim({
    namespaceId,
    types: info.types,
    versions: info.versions,
    workerId,
    limit,
    signal: ask.signal,
  });
  const deferred = claimed.deferred ?? 0;
  ctx.dispatch.claimed(namespaceId, workerId, token.seq, claimed.length >= limit || deferred > 0);
  for (const c of claimed) ctx.metrics.runClaimed(namespaceId, c.workflow_type, c.queued_s);
  if (claimed.length && ask.signal.aborted) {
    await giveBack(ctx, namespaceId, claimed);
    return [];
  }
  return await tasksFor(ctx, namespaceId, claimed, expiresIn, ask.url);
}
