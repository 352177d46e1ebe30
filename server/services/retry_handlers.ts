/** WorkflowService handler RetryWorkflow: a new run from a finished one. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { RetryWorkflowResponseSchema, type WorkflowService } from "@kagzi/proto";
import { ConflictError, PreconditionError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import { insertRetryRun } from "../store/retries.ts";
import * as runs from "../store/runs.ts";
import { runNotFound } from "./_not_found.ts";
import type { ServiceContext } from "./_context.ts";
import * as v from "./_validate.ts";
import { isTerminal } from "./_convert.ts";

type RetryHandlers = Pick<ServiceImpl<typeof WorkflowService>, "retryWorkflow">;

/** The RetryWorkflow handler of WorkflowService. */
export function retryHandlers(ctx: ServiceContext): RetryHandlers {
  const { db, notifier } = ctx;
  return {
    async retryWorkflow(req) {
      const op = "retry workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const inserted = await insertRetryRun(db, namespaceId, runId, crypto.randomUUID());
      if (inserted) {
        notifier.publish(workTopic(namespaceId));
        return create(RetryWorkflowResponseSchema, {
          runId: inserted.run_id,
          workflowId: inserted.workflow_id,
        });
      }
      // Nothing inserted: say why.
      const old = await runs.getRun(db, namespaceId, runId);
      if (!old) {
        throw runNotFound(namespaceId, runId);
      }
      if (!isTerminal(old.status)) {
        throw new PreconditionError(
          "run",
          runId,
          `Cannot ${op}: run "${runId}" is ${old.status}; only COMPLETED, FAILED or CANCELLED runs can be retried`,
        );
      }
      const holder = await runs.findActiveRun(db, namespaceId, old.workflow_id);
      throw new ConflictError(
        "workflow_id",
        old.workflow_id,
        `Cannot ${op}: "workflow_id" ${v.show(old.workflow_id)} of run "${runId}" is held by the ${
          holder ? `${holder.status} run "${holder.run_id}"` : "open run"
        }; retry it once that run has ended`,
      );
    },
  };
}
