/**
 * WorkflowService handler RetryWorkflow: a new run from a finished one, optionally rerun from a
 * step (the steps before it keep their stored outputs).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { RetryWorkflowResponseSchema, type WorkflowService } from "@kagzi/proto";
import { ConflictError, InvalidArgumentError, PreconditionError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import { copyStepsBefore, insertRetryRun, stepNames } from "../store/retries.ts";
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
      const op = req.fromStep ? "rerun workflow" : "retry workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const fromStep = v.name(op, "from_step", req.fromStep, false);
      if (fromStep) {
        const names = await stepNames(db, namespaceId, runId);
        if (!names.includes(fromStep)) {
          if (!names.length && !(await runs.getRun(db, namespaceId, runId))) {
            throw runNotFound(namespaceId, runId);
          }
          throw new InvalidArgumentError(
            "from_step",
            `Cannot ${op}: "from_step" ${v.show(fromStep)} is not a step of run "${runId}"; ${
              names.length
                ? `its steps are ${names.map(v.show).join(", ")}`
                : "it recorded no steps"
            }`,
          );
        }
      }
      // The run and the steps it keeps commit together: no worker claims it without them.
      const inserted = await db.transaction(async (tx) => {
        const row = await insertRetryRun(tx, namespaceId, runId, crypto.randomUUID());
        if (row && fromStep) await copyStepsBefore(tx, namespaceId, runId, row.run_id, fromStep);
        return row;
      });
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
