/**
 * WorkerService: a worker's registration and heartbeats, its long polls, and the writes of the
 * runs it holds (steps, waits, run ends, and Reports batching them), composed from one handler
 * file per concern the way WorkflowService is.
 */
import type { ServiceImpl } from "@connectrpc/connect";
import type { WorkerService } from "@kagzi/proto";
import { PollClaims } from "./_claims.ts";
import type { ServiceContext } from "./_context.ts";
import { WorkerCache } from "./_worker_cache.ts";
import { pollHandlers } from "./poll_handlers.ts";
import { registrationHandlers } from "./registration_handlers.ts";
import { reportHandlers } from "./report_handlers.ts";
import { runEndHandlers } from "./run_end_handlers.ts";
import { stepHandlers } from "./step_handlers.ts";
import { waitHandlers } from "./wait_handlers.ts";
import { parkHandlers } from "./parking_handlers.ts";
import { tokenWaitHandlers } from "./token_wait_handlers.ts";

/** The WorkerService handlers. One instance per server: it caches registered workers. */
export function workerService(ctx: ServiceContext): ServiceImpl<typeof WorkerService> {
  const workers = new WorkerCache(ctx.db);
  const steps = stepHandlers(ctx, workers);
  const ends = runEndHandlers(ctx);
  // Polls and Reports that ask for runs share their claim statements.
  const claims = new PollClaims(ctx);
  return {
    ...registrationHandlers(ctx, workers),
    ...pollHandlers(ctx, workers, claims),
    ...steps,
    ...waitHandlers(ctx),
    ...tokenWaitHandlers(ctx),
    ...ends,
    ...parkHandlers(ctx),
    ...reportHandlers(ctx, workers, claims, {
      completeStep: steps.completeStep,
      completeWorkflow: ends.completeWorkflow,
    }),
  };
}
