/** PollTask: a long poll that claims due runs, or is handed a new run by its start. */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type PollTaskRequest,
  type PollTaskResponse,
  PollTaskResponseSchema,
  type Task,
  TaskSchema,
  type WorkerService,
} from "@kagzi/proto";
import type * as queue from "../store/queue.ts";
import * as steps from "../store/steps.ts";
import { streamCursors } from "../store/streams.ts";
import { type Claimed, PollClaims } from "./_claims.ts";
import type { ServiceContext } from "./_context.ts";
import { giveBack } from "./_handoff.ts";
import { payloadOf, retryFromJson } from "./_convert.ts";
import { stepRecordToProto } from "./_steps.ts";
import { durationMs } from "./_time.ts";
import type { WorkerCache } from "./_worker_cache.ts";
import * as v from "./_validate.ts";

const maxTasksPerPoll = 100;

type PollHandlers = Pick<ServiceImpl<typeof WorkerService>, "pollTask">;

/** The PollTask handler of WorkerService. */
export function pollHandlers(ctx: ServiceContext, workers: WorkerCache): PollHandlers {
  const { dispatch, config, metrics } = ctx;
  const claims = new PollClaims(ctx);
  return { pollTask };

  async function pollTask(req: PollTaskRequest, call: HandlerContext): Promise<PollTaskResponse> {
    const op = "poll task";
    const received = performance.now();
    const namespaceId = v.namespace(op, req.namespace);
    const info = await workers.get(op, namespaceId, req.workerId);
    const workerId = req.workerId.toLowerCase();
    const limit = Math.min(Math.max(req.maxTasks, 1), maxTasksPerPoll);
    const waitMs = Math.min(
      durationMs(op, "timeout", req.timeout) ?? config.pollTimeoutMs,
      Math.min(config.pollTimeoutMs, config.maxWaitMs),
    );
    const until = Date.now() + waitMs;
    const answer = async (rows: queue.ClaimedRow[], expiresIn: number) =>
      create(PollTaskResponseSchema, {
        tasks: await tasksFor(ctx, namespaceId, rows, expiresIn, call.url),
      });
    // Registered before the first claim: a run that becomes due meanwhile makes it look again.
    const poll = dispatch.open({
      namespaceId,
      workerId,
      types: info.types,
      versions: info.versions,
      limit,
      received,
    });
    ctx.deadWorkers?.pollOpened(namespaceId, workerId);
    let retries = 0;
    try {
      for (;;) {
        // A caller that hung up claims nothing: what it claimed would wait for its lease.
        if (call.signal.aborted) return create(PollTaskResponseSchema, {});
        // The lease lasts at least this long from the request's arrival (the claim runs later).
        const expiresIn = Math.floor(performance.now() - received) + config.leaseMs;
        // Nothing became due since this worker's last claim found all there was: wait at once.
        const token = dispatch.mustClaim(namespaceId, workerId);
        const claimed: Claimed = token.must
          ? await claims.claim({
            namespaceId,
            types: info.types,
            versions: info.versions,
            workerId,
            limit,
            signal: call.signal,
          })
          : [];
        // Runs left due behind others of this claim (a concurrency slot's room) are looked
        // for again at once.
        const deferred = claimed.deferred ?? 0;
        if (token.must) {
          dispatch.claimed(
            namespaceId,
            workerId,
            token.seq,
            claimed.length >= limit || deferred > 0,
          );
        }
        if (!claimed.length && deferred > 0 && retries++ < 3) continue;
        for (const c of claimed) metrics.runClaimed(namespaceId, c.workflow_type, c.queued_s);
        if (claimed.length && call.signal.aborted) {
          await giveBack(ctx, namespaceId, claimed);
          return create(PollTaskResponseSchema, {});
        }
        const remaining = until - Date.now();
        if (claimed.length || remaining <= 0) return await answer(claimed, expiresIn);
        metrics.pollWaiting(namespaceId, 1);
        const outcome = await poll.wait(remaining, call.signal)
          .finally(() => metrics.pollWaiting(namespaceId, -1));
        if (outcome.kind === "tasks") {
          metrics.pollClaim(namespaceId, "matched", outcome.rows.length);
          return await answer(outcome.rows, outcome.expiresIn);
        }
        if (outcome.kind !== "woken") return create(PollTaskResponseSchema, {});
      }
    } finally {
      dispatch.close(poll);
      // The caller hung up: if it stays silent, its process is gone (engine/dead_workers.ts).
      if (call.signal.aborted) ctx.deadWorkers?.pollCutOff(namespaceId, workerId);
    }
  }
}

/** The tasks of claimed runs; a run claimed before gets its stored steps with it. */
async function tasksFor(
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
