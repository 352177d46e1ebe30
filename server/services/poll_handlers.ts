/** PollTask: a long poll that claims due runs, or is handed a new run by its start. */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type PollTaskRequest,
  type PollTaskResponse,
  PollTaskResponseSchema,
  type WorkerService,
} from "@kagzi/proto";
import type * as queue from "../store/queue.ts";
import type { PollClaims } from "./_claims.ts";
import type { ServiceContext } from "./_context.ts";
import { giveBack } from "./_handoff.ts";
import { claimDue, maxTasksPerCall, tasksFor } from "./_tasks.ts";
import { durationMs } from "./_time.ts";
import type { WorkerCache } from "./_worker_cache.ts";
import * as v from "./_validate.ts";

type PollHandlers = Pick<ServiceImpl<typeof WorkerService>, "pollTask">;

/** The PollTask handler of WorkerService. */
export function pollHandlers(
  ctx: ServiceContext,
  workers: WorkerCache,
  claims: PollClaims,
): PollHandlers {
  const { dispatch, config, metrics } = ctx;
  return { pollTask };

  async function pollTask(req: PollTaskRequest, call: HandlerContext): Promise<PollTaskResponse> {
    const op = "poll task";
    const received = performance.now();
    const namespaceId = v.namespace(op, req.namespace);
    const info = await workers.get(op, namespaceId, req.workerId);
    const workerId = req.workerId.toLowerCase();
    const limit = Math.min(Math.max(req.maxTasks, 1), maxTasksPerCall);
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
        // No claim query when nothing became due since this worker's last one found all there
        // was: the poll waits at once.
        const claimed = await claimDue(ctx, claims, {
          namespaceId,
          workerId,
          info,
          limit,
          signal: call.signal,
        });
        // Runs left due behind others of this claim (a concurrency slot's room) are looked
        // for again at once.
        if (!claimed.length && (claimed.deferred ?? 0) > 0 && retries++ < 3) continue;
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
