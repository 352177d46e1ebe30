/** WorkerService handlers for durable waits: ReceiveSignal and StartChild. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ErrorCode,
  ErrorDetailSchema,
  ParentClosePolicy,
  ReceiveSignalResponseSchema,
  StartChildResponseSchema,
  type WorkerService,
} from "@kagzi/proto";
import { ConflictError, InvalidArgumentError, LeaseLostError } from "../errors.ts";
import { ChildRaceError, startChild } from "../store/children.ts";
import { receiveSignal } from "../store/signals.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson, retryToJson } from "./_convert.ts";
import { lease, stepRef } from "./_lease.ts";
import { checkRetryPolicy } from "./_retry.ts";
import { stepRecordToProto } from "./_steps.ts";
import { dateOf } from "./_time.ts";
import * as v from "./_validate.ts";

type WaitHandlers = Pick<ServiceImpl<typeof WorkerService>, "receiveSignal" | "startChild">;

/** The signal and child-workflow handlers of WorkerService. */
export function waitHandlers(ctx: ServiceContext): WaitHandlers {
  const { db } = ctx;
  return {
    async receiveSignal(req) {
      const op = "receive signal";
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const l = lease(op, req.lease);
      const ref = stepRef(op, req.step, "SIGNAL");
      const timeoutAt = dateOf(op, "timeout_at", req.timeoutAt) ?? null;
      const timedOut = (at: Date) =>
        errorToJson(create(ErrorDetailSchema, {
          code: ErrorCode.TIMEOUT,
          name: "SignalTimeoutError",
          nonRetryable: true,
          subject: "signal",
          subjectId: ref.name,
          message: `No signal "${ref.name}" arrived before ${at.toISOString()}`,
        }));
      const row = await db.transaction((tx) =>
        receiveSignal(
          tx,
          { namespaceId, runId: l.runId, fence: l.fence, workerId, ...ref },
          timeoutAt,
          timedOut,
        )
      );
      if (!row) throw new LeaseLostError(l.runId, BigInt(l.fence));
      return create(ReceiveSignalResponseSchema, { record: stepRecordToProto(row) });
    },

    async startChild(req) {
      const op = "start child workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const l = lease(op, req.lease);
      const ref = stepRef(op, req.step, "CHILD");
      const workflowType = v.name(op, "workflow_type", req.workflowType);
      // The default id is the same on every replay, so a child is never started twice.
      const workflowId = v.name(op, "workflow_id", req.workflowId, false) ||
        `${l.runId}/${ref.name}/${ref.occurrence}`;
      const version = v.name(op, "version", req.version, false);
      const input = v.payload(op, "input", req.input);
      const retryPolicy = retryToJson(checkRetryPolicy(op, "retry_policy", req.retryPolicy));
      const policy = req.parentClosePolicy === ParentClosePolicy.ABANDON ? "abandon" : "cancel";
      if (
        req.parentClosePolicy !== ParentClosePolicy.UNSPECIFIED &&
        req.parentClosePolicy !== ParentClosePolicy.CANCEL &&
        req.parentClosePolicy !== ParentClosePolicy.ABANDON
      ) {
        throw new InvalidArgumentError(
          "parent_close_policy",
          `Cannot ${op}: "parent_close_policy" ${req.parentClosePolicy} is not a policy (0-2)`,
        );
      }
      const key = { namespaceId, runId: l.runId, fence: l.fence, workerId, ...ref };
      const spec = {
        workflowType,
        workflowId,
        version,
        input,
        parentClosePolicy: policy,
        retryPolicy,
      } as const;
      for (let i = 0;; i++) {
        try {
          const res = await db.transaction((tx) => startChild(tx, key, spec));
          if (res.kind === "lost") throw new LeaseLostError(l.runId, BigInt(l.fence));
          if (res.kind === "conflict") {
            throw new ConflictError(
              "workflow_id",
              workflowId,
              `Cannot ${op}: "workflow_id" ${v.show(workflowId)} is held by a running ` +
                `workflow of type ${v.show(res.workflowType)}, not ${v.show(workflowType)}`,
            );
          }
          if (res.started) {
            ctx.dispatch.runDue(namespaceId, workflowType);
            ctx.metrics.runStarted(namespaceId, workflowType);
          }
          return create(StartChildResponseSchema, {
            record: stepRecordToProto(res.step),
            alreadyExists: res.alreadyExists,
          });
        } catch (err) {
          if (!(err instanceof ChildRaceError) || i >= 4) throw err;
        }
      }
    },
  };
}
