/**
 * Held runs: WorkerService.ParkWorkflow (a worker's replay found the code no longer matches
 * the run's history), WorkflowService.PauseWorkflow (an operator holds a run) and
 * ResumeWorkflow (an operator lets a parked run run again, as it is or "from here", or a paused
 * one). CancelWorkflow ends a parked or paused run like any open one.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ParkWorkflowResponseSchema,
  PauseWorkflowResponseSchema,
  PauseWorkflowTypeResponseSchema,
  ResumeWorkflowResponseSchema,
  ResumeWorkflowTypeResponseSchema,
  StepKind,
  type StepRef,
  type WorkerService,
  type WorkflowService,
} from "@kagzi/proto";
import { InvalidArgumentError, PreconditionError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import * as parking from "../store/parking.ts";
import * as runs from "../store/runs.ts";
import type { ServiceContext } from "./_context.ts";
import { runToProto } from "./_convert.ts";
import { HeldRun } from "./_lease.ts";
import { runNotFound } from "./_not_found.ts";
import * as v from "./_validate.ts";

const storedKinds: Partial<Record<StepKind, runs.StepRefJson["kind"]>> = {
  [StepKind.FUNCTION]: "FUNCTION",
  [StepKind.SLEEP]: "SLEEP",
  [StepKind.SIGNAL]: "SIGNAL",
  [StepKind.CHILD]: "CHILD",
  [StepKind.TOKEN]: "TOKEN",
  [StepKind.ANY]: "ANY",
};

/** The most unasked steps a park records (a run's history is rarely longer). */
const maxUnasked = 10_000;

function stepRefOf(op: string, field: string, s: StepRef | undefined): runs.StepRefJson {
  if (!s) throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" is required`);
  const kind = storedKinds[s.kind];
  if (!kind) {
    throw new InvalidArgumentError(`${field}.kind`, `Cannot ${op}: "${field}.kind" is not set`);
  }
  if (s.occurrence < 1) {
    throw new InvalidArgumentError(
      `${field}.occurrence`,
      `Cannot ${op}: "${field}.occurrence" must be 1 or more`,
    );
  }
  return { kind, name: v.name(op, `${field}.name`, s.name), occurrence: s.occurrence };
}

/** The ParkWorkflow handler of WorkerService. */
export function parkHandlers(
  ctx: ServiceContext,
): Pick<ServiceImpl<typeof WorkerService>, "parkWorkflow"> {
  const { db, log } = ctx;
  return {
    async parkWorkflow(req) {
      const op = "park workflow";
      const run = HeldRun.open(op, req);
      if (req.unasked.length > maxUnasked) {
        throw new InvalidArgumentError(
          "unasked",
          `Cannot ${op}: "unasked" has ${req.unasked.length} steps; the limit is ${maxUnasked}`,
        );
      }
      const parked: runs.ParkedJson = {
        expected: req.expected ? stepRefOf(op, "expected", req.expected) : null,
        asked: stepRefOf(op, "asked", req.asked),
        unasked: req.unasked.map((s, i) => stepRefOf(op, `unasked[${i}]`, s)),
        parkedAt: new Date().toISOString(),
        workerId: run.workerId,
      };
      const row = await parking.parkRun(db, run.namespaceId, run.runId, run.fence, parked);
      if (!row) throw run.lost();
      log.warn(
        `run ${run.runId} (${row.workflow_type}) parked: its history has ` +
          `${parked.expected?.kind ?? "nothing"} "${parked.expected?.name ?? ""}" where its ` +
          `code asked for ${parked.asked.kind} "${parked.asked.name}"`,
      );
      return create(ParkWorkflowResponseSchema, {});
    },
  };
}

/** The PauseWorkflow(Type) and ResumeWorkflow(Type) handlers of WorkflowService. */
export function resumeHandlers(
  ctx: ServiceContext,
): Pick<
  ServiceImpl<typeof WorkflowService>,
  "resumeWorkflow" | "pauseWorkflow" | "pauseWorkflowType" | "resumeWorkflowType"
> {
  const { db, notifier } = ctx;
  return {
    async resumeWorkflow(req) {
      const op = "resume workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const unpaused = req.fromHere ? undefined : await parking.unpauseRun(db, namespaceId, runId);
      const resumed = unpaused ??
        (await parking.resumeRun(db, namespaceId, runId, req.fromHere))?.row;
      if (resumed) {
        notifier.publish(workTopic(namespaceId));
        return create(ResumeWorkflowResponseSchema, { workflow: runToProto(resumed) });
      }
      const row = await runs.getRun(db, namespaceId, runId);
      if (!row) throw runNotFound(namespaceId, runId);
      if (row.status === "PAUSED") {
        throw new InvalidArgumentError(
          "from_here",
          `Cannot ${op}: "from_here" applies to PARKED runs; run "${runId}" is PAUSED (resume it without from_here)`,
        );
      }
      throw new PreconditionError(
        "run",
        runId,
        `Cannot ${op}: run "${runId}" is ${row.status}; only PARKED or PAUSED runs can be resumed`,
      );
    },

    async pauseWorkflowType(req) {
      const op = "pause workflow type";
      const namespaceId = v.namespace(op, req.namespace);
      const type = v.name(op, "workflow_type", req.workflowType);
      const runsPaused = await parking.pauseType(db, namespaceId, type);
      return create(PauseWorkflowTypeResponseSchema, { runsPaused });
    },

    async resumeWorkflowType(req) {
      const op = "resume workflow type";
      const namespaceId = v.namespace(op, req.namespace);
      const type = v.name(op, "workflow_type", req.workflowType);
      const runsResumed = await parking.resumeType(db, namespaceId, type);
      notifier.publish(workTopic(namespaceId));
      return create(ResumeWorkflowTypeResponseSchema, { runsResumed });
    },

    async pauseWorkflow(req) {
      const op = "pause workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const paused = await parking.pauseRun(db, namespaceId, runId);
      if (paused) return create(PauseWorkflowResponseSchema, { workflow: runToProto(paused) });
      const row = await runs.getRun(db, namespaceId, runId);
      if (!row) throw runNotFound(namespaceId, runId);
      if (row.status === "PAUSED") {
        return create(PauseWorkflowResponseSchema, {
          workflow: runToProto(row),
          alreadyPaused: true,
        });
      }
      throw new PreconditionError(
        "run",
        runId,
        `Cannot ${op}: run "${runId}" is ${row.status}; only PENDING, RUNNING or SLEEPING runs can be paused`,
      );
    },
  };
}
