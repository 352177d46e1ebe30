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
import { Batcher } from "../engine/batcher.ts";
import { doneTopic, type RunEnded } from "../engine/notify.ts";
import * as ends from "../store/run_ends.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson } from "./_convert.ts";
import { HeldRun } from "./_lease.ts";
import * as v from "./_validate.ts";

/** The run-end handlers; `completeWorkflow` is also what a Report's run items call. */
export type RunEndHandlers =
  & Pick<ServiceImpl<typeof WorkerService>, "failWorkflow">
  & { completeWorkflow(req: CompleteWorkflowRequest): Promise<CompleteWorkflowResponse> };

/** The CompleteWorkflow and FailWorkflow handlers of WorkerService. */
export function runEndHandlers(ctx: ServiceContext): RunEndHandlers {
  const { db, notifier, metrics } = ctx;
  // Completions arriving together are committed together (group commit).
  const finishes = new Batcher((items: ends.RunOutput[]) => ends.completeRuns(db, items));
  return {
    async completeWorkflow(req) {
      const op = "complete workflow";
      const run = HeldRun.open(op, req, { anyWorker: true });
      const { namespaceId, runId, fence } = run;
      const output = v.payload(op, "output", req.output);
      const ended = await finishes.add({ namespaceId, runId, fence, output });
      if (!ended) throw run.lost();
      // Waiting GetWorkflow and WaitRuns calls here answer from this without reading the run
      // again (GetWorkflow needs the row too).
      const detail: RunEnded = {
        row: ended.row,
        output: output.data,
        outputMetadata: output.metadata,
      };
      notifier.publish(doneTopic(namespaceId, runId), detail);
      metrics.runFinished(namespaceId, ended.workflow_type, "completed", ended.duration_s);
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
      return create(FailWorkflowResponseSchema, {});
    },
  };
}
