/** WorkflowService: start, get, list and cancel runs. Validate → store → convert. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CancelWorkflowResponseSchema,
  ErrorCode,
  ErrorDetailSchema,
  GetWorkflowResponseSchema,
  ListWorkflowsResponseSchema,
  StartWorkflowResponseSchema,
  type WorkflowService,
} from "@kagzi/proto";
import { ConflictError, InvalidArgumentError, PreconditionError } from "../errors.ts";
import { doneTopic, type RunEnded } from "../engine/notify.ts";
import { startRuns } from "./_handoff.ts";
import { groupCommit } from "../engine/batcher.ts";
import * as runs from "../store/runs.ts";
import type * as starts from "../store/run_starts.ts";
import * as steps from "../store/steps.ts";
import { listReruns } from "../store/retries.ts";
import { waitToProto } from "./_steps.ts";
import { runNotFound } from "./_not_found.ts";
import type { ServiceContext } from "./_context.ts";
import {
  errorToJson,
  isTerminal,
  retryToJson,
  runToProto,
  statusFromProto,
  statusToProto,
} from "./_convert.ts";
import { checkRetryPolicy } from "./_retry.ts";
import { dateOf, durationMs } from "./_time.ts";
import * as v from "./_validate.ts";
import { retryHandlers } from "./retry_handlers.ts";
import { resumeHandlers } from "./parking_handlers.ts";
import { ServedTypes } from "./_served.ts";
import { checkExisting, onDuplicateOf, startsPast } from "./_duplicates.ts";
import { tags as checkTags } from "./_tags.ts";
import { checkSignal, signalHandlers, signalWithStart } from "./signal_handlers.ts";
import { traceparentOf } from "../tracing.ts";
import { debouncedStart, planStart } from "./_flow_start.ts";
import { waitRunsHandler } from "./wait_runs_handler.ts";
import { startBatchHandler } from "./start_batch_handler.ts";

/** The WorkflowService handlers. */
export function workflowService(ctx: ServiceContext): ServiceImpl<typeof WorkflowService> {
  const { db, notifier, metrics } = ctx;
  // Starts arriving together are committed together (group commit).
  // A start finding a poll waiting for its type hands the run over already claimed (sync match).
  const starts = groupCommit(ctx, "starts", startRuns(ctx));
  const served = new ServedTypes(db);
  const service: ServiceImpl<typeof WorkflowService> = {
    ...startBatchHandler(ctx, (req, call) => service.startWorkflow(req, call)),
    ...signalHandlers(ctx),
    ...retryHandlers(ctx),
    ...resumeHandlers(ctx),
    ...waitRunsHandler(ctx),
    async startWorkflow(req, call) {
      const op = "start workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const workflowType = v.name(op, "workflow_type", req.workflowType);
      const workflowId = v.name(op, "workflow_id", req.workflowId, false) || crypto.randomUUID();
      const version = v.name(op, "version", req.version, false);
      const input = v.payload(op, "input", req.input);
      const context = req.context ? v.payload(op, "context", req.context) : null;
      const deadlineAt = dateOf(op, "deadline_at", req.deadlineAt) ?? null;
      if (deadlineAt && deadlineAt.getTime() <= ctx.clock.now()) {
        throw new InvalidArgumentError(
          "deadline_at",
          `Cannot ${op}: "deadline_at" ${deadlineAt.toISOString()} is in the past`,
        );
      }
      const retryPolicy = retryToJson(checkRetryPolicy(op, "retry_policy", req.retryPolicy));
      const traceparent = traceparentOf(op, req.traceparent, call.requestHeader);
      const runTags = checkTags(op, "tags", req.tags);
      // Signal-with-start delivers to an open run, else starts anew past an ended one (a signal
      // cannot reach an ended run): "allow-after-end" unless "fail" or "allow-after-failure"
      // was asked for (then an ended run the mode does not start past refuses the call).
      const asked = onDuplicateOf(op, req.onDuplicate);
      const onDuplicate = req.signal && asked === "return-existing" ? "allow-after-end" : asked;
      // Insert, or find the live run holding the key; loop when that run ends in between.
      const signal = req.signal &&
        checkSignal(op, "signal.", req.signal.name, req.signal.payload, req.signal.idempotencyKey);
      for (let i = 0; i < 5; i++) {
        const plan = await planStart(
          ctx,
          op,
          namespaceId,
          workflowType,
          version,
          input,
          req.priority,
        );
        const run: starts.NewRun = {
          namespaceId,
          runId: crypto.randomUUID(),
          workflowId,
          workflowType,
          version,
          deadlineAt,
          retryPolicy,
          input,
          context,
          scheduleId: null,
          traceparent,
          onDuplicate,
          tags: runTags ?? {},
          flow: plan.flow,
        };
        if (plan.debounce && !signal) {
          const res = await debouncedStart(ctx, run, plan.debounce);
          if (res && !res.debounced) metrics.runStarted(namespaceId, workflowType);
          if (res) return res;
        } else if (signal) {
          const res = await signalWithStart(ctx, op, run, signal);
          if (res && !res.alreadyExists) metrics.runStarted(namespaceId, workflowType);
          if (res) return res;
          continue;
        }
        // A debounced start that stored nothing: see who keeps the id (none: try again).
        // Open from before its insert: an end published from then on clears the mark, so the
        // result wait that usually follows need not read it.
        let inserted: Awaited<ReturnType<typeof starts.add>> | undefined;
        if (!plan.debounce) {
          ctx.openRuns.mark(namespaceId, run.runId);
          try {
            inserted = await starts.add(run);
          } finally {
            if (!inserted) ctx.openRuns.forget(namespaceId, run.runId);
          }
        }
        if (inserted) {
          metrics.runStarted(namespaceId, workflowType);
          return create(StartWorkflowResponseSchema, {
            runId: inserted.run_id,
            workflowId,
            alreadyExists: false,
            status: statusToProto(inserted.status),
            // Handed to a waiting poll: served. Else say so when no online worker serves it.
            warning: inserted.status === "RUNNING"
              ? ""
              : await served.warning(namespaceId, workflowType, inserted.version),
          });
        }
        // Not inserted: a retained run keeps the id. The newest one answers, unless it ended
        // (or went) in between in a way this mode starts past: then try again.
        const existing = await runs.findNewestRun(db, namespaceId, workflowId);
        if (!existing || startsPast(onDuplicate, existing.status)) continue;
        checkExisting(op, onDuplicate, workflowId, workflowType, existing);
        return create(StartWorkflowResponseSchema, {
          runId: existing.run_id,
          workflowId,
          alreadyExists: true,
          status: statusToProto(existing.status),
          warning: existing.status === "PENDING" || existing.status === "SLEEPING"
            ? await served.warning(namespaceId, workflowType, existing.version)
            : "",
        });
      }
      throw new ConflictError(
        "workflow_id",
        workflowId,
        `Cannot ${op}: "workflow_id" ${v.show(workflowId)} kept changing hands; try again`,
      );
    },

    async getWorkflow(req, call) {
      const op = "get workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const waitMs = Math.min(
        durationMs(op, "wait_for_terminal", req.waitForTerminal) ?? 0,
        ctx.config.maxWaitMs,
      );
      const until = Date.now() + waitMs;
      for (;;) {
        // Subscribe before reading so a finish in between is not missed. Re-read every few
        // seconds too: a replica that started a moment ago is not yet notified by its peers.
        const remaining = Math.min(until - Date.now(), 5_000);
        const woken = remaining > 0
          ? notifier.next(doneTopic(namespaceId, runId), remaining, call.signal)
          : undefined;
        const row = await runs.getRunWithReruns(db, namespaceId, runId);
        if (!row) {
          throw runNotFound(namespaceId, runId);
        }
        if (!woken || isTerminal(row.status) || call.signal.aborted) {
          const workflow = runToProto(row);
          workflow.rerunRunIds = row.rerun_run_ids;
          // A parked run waits for an operator, not for its recorded waits.
          if (!isTerminal(row.status) && row.status !== "PARKED") {
            workflow.waits = (await steps.openWaits(db, namespaceId, runId)).map(waitToProto);
          }
          if (row.status === "PENDING" || row.status === "SLEEPING") {
            workflow.unserved = await served.unserved(namespaceId, row.workflow_type, row.version);
          }
          return create(GetWorkflowResponseSchema, { workflow });
        }
        const ended = (await woken).detail as RunEnded | undefined;
        if (ended?.row) {
          // Ended on this server: the stored run came with the news; input and context never
          // change, so the row read above supplies them.
          const workflow = runToProto({
            ...row,
            ...ended.row,
            output_data: ended.output,
            output_metadata: ended.outputMetadata,
          });
          workflow.rerunRunIds = await listReruns(db, namespaceId, runId);
          return create(GetWorkflowResponseSchema, { workflow });
        }
      }
    },

    async listWorkflows(req) {
      const op = "list workflows";
      const namespaceId = v.namespace(op, req.namespace);
      let status: runs.RunStatus | null = null;
      if (req.status !== undefined) {
        status = statusFromProto(req.status) ?? null;
        if (!status) {
          throw new InvalidArgumentError(
            "status",
            `Cannot ${op}: "status" ${req.status} is not a workflow status (1-8)`,
          );
        }
      }
      const filter: runs.RunFilter = {
        namespaceId,
        status,
        workflowType: v.name(op, "workflow_type", req.workflowType, false),
        workflowId: v.name(op, "workflow_id", req.workflowId, false),
        scheduleId: v.name(op, "schedule_id", req.scheduleId, false),
        version: req.version === "" ? null : v.name(op, "version", req.version),
        parentRunId: req.parentRunId === "" ? "" : v.runId(op, req.parentRunId, "parent_run_id"),
        tags: checkTags(op, "tags", req.tags),
      };
      const size = v.pageSize(op, req.page?.pageSize ?? 0);
      const before = v.numericCursor(op, req.page?.pageToken ?? "");
      const rows = await runs.listRuns(db, filter, before, size + 1);
      const total = req.page?.includeTotalCount
        ? BigInt(await runs.countRuns(db, filter))
        : undefined;
      const { items, page } = v.pageOf(rows, size, (r) => r.seq, total);
      return create(ListWorkflowsResponseSchema, { workflows: items.map(runToProto), page });
    },

    async cancelWorkflow(req) {
      const op = "cancel workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const reason = v.clip(req.reason, 1024);
      const error = errorToJson(create(ErrorDetailSchema, {
        code: ErrorCode.CANCELLED,
        message: reason ? `Cancelled: ${reason}` : "Cancelled",
        nonRetryable: true,
        name: "CancelledError",
        subject: "run",
        subjectId: runId,
      }));
      const cancelled = await runs.cancelRun(db, namespaceId, runId, error);
      if (cancelled) {
        notifier.publish(doneTopic(namespaceId, runId));
        metrics.runFinished(
          namespaceId,
          cancelled.workflow_type,
          "cancelled",
          (cancelled.finished_at!.getTime() - cancelled.created_at.getTime()) / 1000,
        );
        return create(CancelWorkflowResponseSchema, { workflow: runToProto(cancelled) });
      }
      const row = await runs.getRun(db, namespaceId, runId);
      if (!row) {
        throw runNotFound(namespaceId, runId);
      }
      if (row.status === "CANCELLED") {
        return create(CancelWorkflowResponseSchema, {
          workflow: runToProto(row),
          alreadyCancelled: true,
        });
      }
      throw new PreconditionError(
        "run",
        runId,
        `Cannot ${op}: run "${runId}" is already ${row.status}; only PENDING, RUNNING, SLEEPING, PARKED or PAUSED runs can be cancelled`,
      );
    },
  };
  return service;
}
