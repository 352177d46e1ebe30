/** WorkerService: registration, heartbeats, long-poll claims and the writes of a held run. */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  BeginStepResponseSchema,
  type CompleteStepRequest,
  type CompleteStepResponse,
  CompleteStepResponseSchema,
  type CompleteWorkflowRequest,
  type CompleteWorkflowResponse,
  CompleteWorkflowResponseSchema,
  DeregisterResponseSchema,
  ErrorCode,
  type ErrorDetail,
  ErrorDetailSchema,
  FailStepResponseSchema,
  FailWorkflowResponseSchema,
  HeartbeatResponseSchema,
  RegisterResponseSchema,
  ReportResponseSchema,
  SleepResponseSchema,
  StepKind,
  StepStatus,
  type WorkerService,
} from "@kagzi/proto";
import { InvalidArgumentError, LeaseLostError, NotFoundError, toErrorDetail } from "../errors.ts";
import { doneTopic, type RunEnded, workTopic } from "../engine/notify.ts";
import { resolvePolicy, retryDelay } from "../engine/retry.ts";
import { Batcher } from "../engine/batcher.ts";
import * as queue from "../store/queue.ts";
import * as ends from "../store/run_ends.ts";
import * as runs from "../store/runs.ts";
import * as steps from "../store/steps.ts";
import * as stepResults from "../store/step_results.ts";
import * as workers from "../store/workers.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson, retryFromJson, retryToJson, ts } from "./_convert.ts";
import { stepRecordToProto } from "./_steps.ts";
import { checkRetryPolicy } from "./_retry.ts";
import { dateOf, durationMs } from "./_time.ts";
import * as v from "./_validate.ts";
import { waitHandlers } from "./wait_handlers.ts";
import { lease, stepRef } from "./_lease.ts";
import { checkReportItem } from "./_message_values.ts";
import { pollHandler } from "./poll_handler.ts";

/** What the server remembers of a registered worker between its calls. */
interface WorkerInfo {
  namespaceId: string;
  types: string[];
  versions: string[];
  defaultRetryPolicy: unknown;
}

const maxReportItems = 1000;

/** The WorkerService handlers. */
export function workerService(ctx: ServiceContext): ServiceImpl<typeof WorkerService> {
  const { db, notifier, config, metrics } = ctx;
  const known = new Map<string, WorkerInfo>();
  // Step outputs arriving together are committed together (group commit).
  const completions = new Batcher((items: stepResults.StepOutput[]) =>
    stepResults.completeSteps(db, items)
  );
  const finishes = new Batcher((items: ends.RunOutput[]) => ends.completeRuns(db, items));

  const remember = (row: workers.WorkerRow): WorkerInfo => {
    const info: WorkerInfo = {
      namespaceId: row.namespace_id,
      types: [],
      versions: [],
      defaultRetryPolicy: row.default_retry_policy,
    };
    for (const t of row.workflow_types) {
      for (const version of t.versions.length ? t.versions : [""]) {
        info.types.push(t.workflow_type);
        info.versions.push(version);
      }
    }
    known.set(row.worker_id, info);
    return info;
  };

  const worker = async (op: string, namespaceId: string, workerId: string): Promise<WorkerInfo> => {
    const id = v.runId(op, workerId, "worker_id");
    const cached = known.get(id);
    if (cached && cached.namespaceId === namespaceId) return cached;
    const row = await workers.getWorker(db, namespaceId, id);
    if (!row) {
      throw new NotFoundError(
        "worker",
        id,
        `Worker "${id}" is not registered in namespace "${namespaceId}"; register again`,
      );
    }
    return remember(row);
  };

  const lost = (runId: string, fence: string): never => {
    throw new LeaseLostError(runId, BigInt(fence));
  };

  return {
    ...waitHandlers(ctx),
    async register(req) {
      const op = "register worker";
      const namespaceId = v.namespace(op, req.namespace);
      if (req.workflowTypes.length === 0) {
        throw new InvalidArgumentError(
          "workflow_types",
          `Cannot ${op}: "workflow_types" must name at least one workflow type`,
        );
      }
      const workflowTypes = req.workflowTypes.map((t, i) => ({
        workflow_type: v.name(op, `workflow_types[${i}].workflow_type`, t.workflowType),
        versions: t.versions.map((ver) => v.name(op, `workflow_types[${i}].versions`, ver, false)),
      }));
      if (req.maxConcurrent < 0) {
        throw new InvalidArgumentError(
          "max_concurrent",
          `Cannot ${op}: "max_concurrent" must not be negative`,
        );
      }
      const row = await workers.insertWorker(db, {
        namespaceId,
        workerId: crypto.randomUUID(),
        workflowTypes,
        hostname: v.clip(req.hostname, 256),
        pid: req.pid,
        sdkVersion: v.clip(req.sdkVersion, 64),
        version: v.clip(req.version, 64),
        labels: v.labels(op, req.labels),
        maxConcurrent: req.maxConcurrent,
        defaultRetryPolicy: retryToJson(
          checkRetryPolicy(op, "default_retry_policy", req.defaultRetryPolicy),
        ),
      });
      remember(row);
      return create(RegisterResponseSchema, {
        workerId: row.worker_id,
        heartbeatInterval: durationFromMs(config.heartbeatIntervalMs),
        leaseDuration: durationFromMs(config.leaseMs),
        pollTimeout: durationFromMs(config.pollTimeoutMs),
      });
    },

    async heartbeat(req) {
      const op = "heartbeat";
      const received = performance.now();
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const row = await workers.heartbeatWorker(
        db,
        namespaceId,
        workerId,
        v.count(op, "active_count", req.activeCount, 1_000_000),
        BigInt(v.count(op, "completed_delta", req.completedDelta, 1_000_000_000)),
        BigInt(v.count(op, "failed_delta", req.failedDelta, 1_000_000_000)),
      );
      if (!row) {
        throw new NotFoundError(
          "worker",
          workerId,
          `Worker "${workerId}" is not registered in namespace "${namespaceId}"; register again`,
        );
      }
      const leases = req.leases.map((l) => lease(op, l));
      // Counted up to now, before the leases are set to the database's now() + lease.
      const expiresIn = Math.floor(performance.now() - received) + config.leaseMs;
      const extended = new Set(
        leases.length
          ? await queue.extendLeases(
            db,
            namespaceId,
            workerId,
            leases.map((l) => l.runId),
            leases.map((l) => l.fence),
            config.leaseMs,
          )
          : [],
      );
      const missing = leases.filter((l) => !extended.has(l.runId)).map((l) => l.runId);
      const cancelled: string[] = [];
      const lostRuns: string[] = [];
      if (missing.length) {
        const statuses = new Map(
          (await queue.runStatuses(db, namespaceId, missing)).map((r) => [r.run_id, r.status]),
        );
        for (const id of missing) {
          (statuses.get(id) === "CANCELLED" ? cancelled : lostRuns).push(id);
        }
      }
      return create(HeartbeatResponseSchema, {
        shouldDrain: row.status === "DRAINING",
        cancelledRunIds: cancelled,
        lostRunIds: lostRuns,
        leaseExpiresIn: durationFromMs(expiresIn),
      });
    },

    async deregister(req) {
      const op = "deregister worker";
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const released = await queue.releaseWorkerRuns(db, namespaceId, workerId);
      await workers.setWorkerStatus(db, namespaceId, workerId, "OFFLINE");
      known.delete(workerId);
      ctx.dispatch.forget(namespaceId, workerId);
      if (released) notifier.publish(workTopic(namespaceId));
      return create(DeregisterResponseSchema, { released });
    },

    pollTask: pollHandler(ctx, worker),

    async beginStep(req) {
      const op = "begin step";
      const namespaceId = v.namespace(op, req.namespace);
      const { runId } = lease(op, req.lease);
      const ref = stepRef(op, req.step, req.step?.kind === StepKind.SLEEP ? "SLEEP" : "FUNCTION");
      const attempts = await steps.stepAttempts(
        db,
        namespaceId,
        runId,
        ref.kind,
        ref.name,
        ref.occurrence,
      );
      const latest = attempts.at(-1);
      const done = latest &&
        (latest.status === "COMPLETED" || (latest.status === "FAILED" && !latest.retry_at));
      return create(BeginStepResponseSchema, {
        shouldExecute: !done,
        record: latest ? stepRecordToProto(latest) : undefined,
      });
    },

    completeStep: (req) => completeStep(req),

    async failStep(req) {
      const op = "fail step";
      const namespaceId = v.namespace(op, req.namespace);
      const info = await worker(op, namespaceId, req.workerId);
      const workerId = req.workerId.toLowerCase();
      const l = lease(op, req.lease);
      const ref = stepRef(op, req.step, "FUNCTION");
      if (!req.error) throw new InvalidArgumentError("error", `Cannot ${op}: "error" is required`);
      const stepPolicy = checkRetryPolicy(op, "retry_policy", req.retryPolicy);
      const run = await runs.getRun(db, namespaceId, l.runId);
      if (!run || run.status !== "RUNNING" || run.fence !== l.fence) lost(l.runId, l.fence);
      const previous = await steps.stepAttempts(
        db,
        namespaceId,
        l.runId,
        "FUNCTION",
        ref.name,
        ref.occurrence,
      );
      if (previous.some((s) => s.status === "COMPLETED")) {
        throw new InvalidArgumentError(
          "step",
          `Cannot ${op}: step "${ref.name}" #${ref.occurrence} already completed`,
        );
      }
      const attempt = (previous.at(-1)?.attempt ?? 0) + 1;
      const policy = resolvePolicy(
        stepPolicy,
        retryFromJson(run!.retry_policy),
        retryFromJson(info.defaultRetryPolicy),
      );
      const error = sanitizeError(op, req.error);
      const delay = retryDelay(policy, attempt, error);
      const retryAt = delay === undefined ? null : new Date(Date.now() + delay);
      const key = { namespaceId, runId: l.runId, fence: l.fence, workerId, ...ref };
      const res = await stepResults.failStep(
        db,
        key,
        attempt,
        errorToJson(error),
        retryAt,
        dateOf(op, "started_at", req.startedAt) ?? null,
      );
      if (!res.held) lost(l.runId, l.fence);
      metrics.stepAttempt(namespaceId, run!.workflow_type, "failed");
      return create(FailStepResponseSchema, {
        scheduledRetry: retryAt !== null,
        retryAt: retryAt ? timestampFromDate(retryAt) : undefined,
        attempt,
      });
    },

    async sleep(req) {
      const op = "sleep";
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const l = lease(op, req.lease);
      // No resume_at: the run waits for a signal or a child only, and is woken by it.
      let resumeAt = dateOf(op, "resume_at", req.resumeAt) ?? null;
      if (!resumeAt) {
        const waits = await steps.waitState(db, namespaceId, l.runId);
        if (waits === "none") {
          throw new InvalidArgumentError(
            "resume_at",
            `Cannot ${op}: "resume_at" is required unless the run waits for a signal or a child`,
          );
        }
        // What it waited for ended after this execution read its steps (a child finished
        // between the claim and now): the run is due at once and replays with the outcome.
        if (waits === "satisfied") resumeAt = new Date();
      }
      const sleeps = req.sleeps.map((s, i) => {
        const ref = stepRef(op, s.step, "SLEEP");
        const wakeUpAt = dateOf(op, `sleeps[${i}].wake_up_at`, s.wakeUpAt);
        if (!wakeUpAt) {
          throw new InvalidArgumentError(
            `sleeps[${i}].wake_up_at`,
            `Cannot ${op}: "sleeps[${i}].wake_up_at" is required`,
          );
        }
        return { name: ref.name, occurrence: ref.occurrence, wakeUpAt };
      });
      const suspended = await queue.suspendRun(
        db,
        namespaceId,
        l.runId,
        l.fence,
        workerId,
        sleeps,
        resumeAt,
      );
      if (!suspended) lost(l.runId, l.fence);
      if (suspended!.due) notifier.publish(workTopic(namespaceId));
      else if (resumeAt) notifier.publishAt(workTopic(namespaceId), resumeAt);
      return create(SleepResponseSchema, { resumeAt: ts(resumeAt) });
    },

    completeWorkflow: (req) => completeWorkflow(req),

    async report(req) {
      const op = "report";
      const namespace = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      if (req.items.length > maxReportItems) {
        throw new InvalidArgumentError(
          "items",
          `Cannot ${op}: "items" holds ${req.items.length} items; at most ${maxReportItems} are allowed`,
        );
      }
      // Each item is checked and answered like its single call. They run at once, so their
      // writes share one commit per kind (group commit).
      const results = await Promise.all(req.items.map(async (item, i) => {
        const field = item.item.case === "completeStep"
          ? `items[${i}].complete_step`
          : `items[${i}].complete_workflow`;
        try {
          checkReportItem(item, i);
          const inner = item.item.value;
          if (!inner) {
            throw new InvalidArgumentError(
              `items[${i}]`,
              `Cannot ${op}: "items[${i}]" must hold complete_step or complete_workflow`,
            );
          }
          if (
            (inner.namespace && inner.namespace !== req.namespace) ||
            (inner.workerId && inner.workerId !== req.workerId)
          ) {
            const name = inner.namespace && inner.namespace !== req.namespace
              ? "namespace"
              : "worker_id";
            throw new InvalidArgumentError(
              `${field}.${name}`,
              `Cannot ${op}: "${field}.${name}" differs from the report's "${name}"`,
            );
          }
          return item.item.case === "completeStep"
            ? {
              case: "completeStep" as const,
              value: await completeStep({ ...item.item.value, namespace, workerId }),
            }
            : {
              case: "completeWorkflow" as const,
              value: await completeWorkflow({ ...item.item.value!, namespace, workerId }),
            };
        } catch (err) {
          const detail = toErrorDetail(err, (msg, e) => ctx.log.error(`Report: ${msg}`, e));
          if (err instanceof InvalidArgumentError && !detail.subject.startsWith("items[")) {
            // Name the field within the report.
            detail.subject = `${field}.${detail.subject}`;
            detail.message = `${field}: ${detail.message}`;
          }
          return { case: "error" as const, value: detail };
        }
      }));
      return create(ReportResponseSchema, { results: results.map((result) => ({ result })) });
    },

    async failWorkflow(req) {
      const op = "fail workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const l = lease(op, req.lease);
      if (!req.error) throw new InvalidArgumentError("error", `Cannot ${op}: "error" is required`);
      const error = errorToJson(sanitizeError(op, req.error));
      const ended = await ends.failRun(db, namespaceId, l.runId, l.fence, error);
      if (!ended) lost(l.runId, l.fence);
      notifier.publish(doneTopic(namespaceId, l.runId));
      metrics.runFinished(namespaceId, ended!.workflow_type, "failed", ended!.duration_s);
      return create(FailWorkflowResponseSchema, {});
    },
  };

  async function completeStep(req: CompleteStepRequest): Promise<CompleteStepResponse> {
    const op = "complete step";
    const namespaceId = v.namespace(op, req.namespace);
    const workerId = v.runId(op, req.workerId, "worker_id");
    const l = lease(op, req.lease);
    const ref = stepRef(op, req.step, "FUNCTION");
    const output = v.payload(op, "output", req.output);
    const key = { namespaceId, runId: l.runId, fence: l.fence, workerId, ...ref };
    const startedAt = dateOf(op, "started_at", req.startedAt) ?? null;
    const res = await completions.add({ key, output, startedAt });
    if (!res.held) lost(l.runId, l.fence);
    if (res.attempt !== null) {
      metrics.stepAttempt(namespaceId, res.workflow_type ?? "", "completed");
      return create(CompleteStepResponseSchema, {
        record: {
          step: req.step,
          status: StepStatus.COMPLETED,
          output: req.output,
          attempt: res.attempt,
        },
      });
    }
    // An output was stored before (the first one wins): answer with it.
    const stored =
      (await steps.stepAttempts(db, namespaceId, l.runId, "FUNCTION", ref.name, ref.occurrence))
        .find((s) => s.status === "COMPLETED");
    return create(CompleteStepResponseSchema, {
      record: stored ? stepRecordToProto(stored) : undefined,
    });
  }

  async function completeWorkflow(
    req: CompleteWorkflowRequest,
  ): Promise<CompleteWorkflowResponse> {
    const op = "complete workflow";
    const namespaceId = v.namespace(op, req.namespace);
    const l = lease(op, req.lease);
    const output = v.payload(op, "output", req.output);
    const ended = await finishes.add({ namespaceId, runId: l.runId, fence: l.fence, output });
    if (!ended) lost(l.runId, l.fence);
    // Waiting GetWorkflow calls here answer from this without reading the run again.
    const detail: RunEnded | undefined = ended!.row &&
      { row: ended!.row, output: output.data, outputMetadata: output.metadata };
    notifier.publish(doneTopic(namespaceId, l.runId), detail);
    metrics.runFinished(namespaceId, ended!.workflow_type, "completed", ended!.duration_s);
    return create(CompleteWorkflowResponseSchema, {});
  }
}

/** Bounds the sizes of a user error before storing it; a bad retry_after is named. */
function sanitizeError(op: string, e: ErrorDetail): ErrorDetail {
  durationMs(op, "error.retry_after", e.retryAfter);
  return create(ErrorDetailSchema, {
    code: e.code === ErrorCode.UNSPECIFIED ? ErrorCode.APPLICATION : e.code,
    message: v.clip(e.message, 8192),
    nonRetryable: e.nonRetryable,
    retryAfter: e.retryAfter,
    subject: v.clip(e.subject, 256),
    subjectId: v.clip(e.subjectId, 256),
    metadata: Object.fromEntries(
      Object.entries(e.metadata).slice(0, 32).map((
        [k, val],
      ) => [v.clip(k, 256), v.clip(val, 4096)]),
    ),
    name: v.clip(e.name, 256),
    stack: v.clip(e.stack, 16384),
  });
}
