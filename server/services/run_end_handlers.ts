/**
 * WorkerService handlers for the end of a held run: CompleteWorkflow (group-committed with the
 * completions arriving together; waiting GetWorkflow calls answer from it) and FailWorkflow.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type CompleteWorkflowRequest,
  type CompleteWorkflowResponse,
  CompleteWorkflowResponseSchema,
  FailWorkflowResponseSchema,
  type WorkerService,
} from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { groupCommit } from "../engine/batcher.ts";
import { doneTopic, type RunEnded } from "../engine/notify.ts";
import * as ends from "../store/run_ends.ts";
import { completeRunsWithSteps, type RunOutputWithSteps } from "../store/run_ends_steps.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson } from "./_convert.ts";
import { HeldRun } from "./_lease.ts";
import { carriedSteps } from "./_carried_steps.ts";
import * as v from "./_validate.ts";

/** The run-end handlers; `completeWorkflow` is also what a Report's run items call. */
export type RunEndHandlers =
  & Pick<ServiceImpl<typeof WorkerService>, "failWorkflow">
  & { completeWorkflow(req: CompleteWorkflowRequest): Promise<CompleteWorkflowResponse> };

/** The CompleteWorkflow and FailWorkflow handlers of WorkerService. */
export function runEndHandlers(ctx: ServiceContext): RunEndHandlers {
  const { db, notifier, metrics } = ctx;
  // Completions arriving together are committed together (group commit), with the step outputs
  // they carry.
  const finishes = groupCommit(
    ctx,
    "completions",
    (items: RunOutputWithSteps[]) => completeRunsWithSteps(db, items),
  );
  return {
    async completeWorkflow(req) {
      const op = "complete workflow";
      // A completion that carries step outputs names its worker, as CompleteStep does.
      const run = HeldRun.open(op, req, { anyWorker: req.steps.length === 0 });
      const { namespaceId, runId, fence } = run;
      const output = v.payload(op, "output", req.output);
      const steps = carriedSteps(op, run, req.steps);
      const ended = await finishes.add({ namespaceId, runId, fence, output, steps });
      if (!ended) throw run.lost();
      // Ended: every step output it carried was stored with it.
      for (const _ of steps) metrics.stepAttempt(namespaceId, ended.workflow_type, "completed");
      // Waiting GetWorkflow and WaitRuns calls here answer from this without reading the run
      // again (GetWorkflow needs the row too).
      const detail: RunEnded = {
        row: ended.row,
        output: output.data,
        outputMetadata: output.metadata,
      };
      notifier.publish(doneTopic(namespaceId, runId), detail);
      metrics.runFinished(namespaceId, ended.workflow_type, "completed", ended.duration_s);
      await wakeWaiters(ctx, namespaceId, ended.workflow_type);
      return create(CompleteWorkflowResponseSchema, {});
    },

    async failWorkflow(req) {
      const op = "fail workflow";
      const run = HeldRun.open(op, req, { anyWorker: true });
      const { namespaceId, runId } = run;
      if (!req.error) throw new InvalidArgumentError("error", `Cannot ${op}: "error" is required`);
      const error = errorToJson(v.errorDetail(op, req.error));
      const ended = await ends.failRun(db, namespaceId, runId, run.fence, error);
      if (!ended) throw run.lost();
      notifier.publish(doneTopic(namespaceId, runId));
      metrics.runFinished(namespaceId, ended.workflow_type, "failed", ended.duration_s);
      await wakeWaiters(ctx, namespaceId, ended.workflow_type);
      return create(FailWorkflowResponseSchema, {});
    },
  };
}

/**
 * The end of a run under a concurrency limit made the next waiter of its slots due (in the
 * end's transaction, migration 0010): a poll here looks for it at once (other servers hear the
 * trigger's NOTIFY; without one, as on the embedded database, the ticker's pass would).
 */
async function wakeWaiters(ctx: ServiceContext, namespaceId: string, type: string): Promise<void> {
  const config = await ctx.flowCache?.get(ctx.db, namespaceId, type, "").catch(() => undefined);
  if (config?.concurrency.length) ctx.dispatch.wakeOne(namespaceId, type);
}
