/**
 * WorkerService handlers for a held run's FUNCTION steps: BeginStep (replay or execute),
 * CompleteStep (group-committed with the outputs arriving together) and FailStep (records the
 * attempt and schedules its retry by the step's, run's or worker's policy).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  BeginStepResponseSchema,
  type CompleteStepRequest,
  type CompleteStepResponse,
  CompleteStepResponseSchema,
  FailStepResponseSchema,
  StepKind,
  StepStatus,
  type WorkerService,
} from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { groupCommit } from "../engine/batcher.ts";
import { resolvePolicy, retryDelay } from "../engine/retry.ts";
import { takeStepToken } from "../store/rate_buckets.ts";
import * as runs from "../store/runs.ts";
import * as stepResults from "../store/step_results.ts";
import * as steps from "../store/steps.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson, retryFromJson } from "./_convert.ts";
import { HeldRun, stepRef } from "./_lease.ts";
import { checkRetryPolicy } from "./_retry.ts";
import { stepRecordToProto } from "./_steps.ts";
import { dateOf } from "./_time.ts";
import * as v from "./_validate.ts";
import type { WorkerCache } from "./_worker_cache.ts";

/** The step handlers; `completeStep` is also what a Report's step items call. */
export type StepHandlers =
  & Pick<ServiceImpl<typeof WorkerService>, "beginStep" | "failStep">
  & { completeStep(req: CompleteStepRequest): Promise<CompleteStepResponse> };

/** The FUNCTION step handlers of WorkerService. */
export function stepHandlers(ctx: ServiceContext, workers: WorkerCache): StepHandlers {
  const { db, metrics } = ctx;
  // Step outputs arriving together are committed together (group commit).
  const completions = groupCommit(
    ctx,
    "step_outputs",
    (items: stepResults.StepOutput[]) => stepResults.completeSteps(db, items),
  );
  return {
    async beginStep(req) {
      const op = "begin step";
      const run = HeldRun.open(op, req, { anyWorker: true });
      const ref = stepRef(op, req.step, req.step?.kind === StepKind.SLEEP ? "SLEEP" : "FUNCTION");
      const attempts = await steps.stepAttempts(
        db,
        run.namespaceId,
        run.runId,
        ref.kind,
        ref.name,
        ref.occurrence,
      );
      const latest = attempts.at(-1);
      const done = latest &&
        (latest.status === "COMPLETED" || (latest.status === "FAILED" && !latest.retry_at));
      const record = latest ? stepRecordToProto(latest) : undefined;
      if (!done && req.rateLimit !== "") {
        const name = v.name(op, "rate_limit", req.rateLimit);
        if (ref.kind !== "FUNCTION") {
          throw new InvalidArgumentError(
            "rate_limit",
            `Cannot ${op}: "rate_limit" is for FUNCTION steps only`,
          );
        }
        const take = await takeStepToken(db, run.namespaceId, run.runId, run.fence, name);
        if ("held" in take) throw run.lost();
        if ("unknown" in take) {
          throw new InvalidArgumentError(
            "rate_limit",
            `Cannot ${op}: rate limit ${
              v.show(name)
            } is not defined in namespace "${run.namespaceId}" (define it with client.setRateLimit)`,
          );
        }
        if (!take.taken) {
          return create(BeginStepResponseSchema, {
            shouldExecute: false,
            record,
            rateLimitedUntil: timestampFromDate(take.retryAt),
          });
        }
      }
      return create(BeginStepResponseSchema, { shouldExecute: !done, record });
    },

    async completeStep(req) {
      const op = "complete step";
      const run = HeldRun.open(op, req);
      const ref = stepRef(op, req.step, "FUNCTION");
      const output = v.payload(op, "output", req.output);
      const startedAt = dateOf(op, "started_at", req.startedAt) ?? null;
      const res = await completions.add({ key: run.step(ref), output, startedAt });
      if (!res.held) throw run.lost();
      if (res.attempt !== null) {
        metrics.stepAttempt(run.namespaceId, res.workflow_type ?? "", "completed");
        return create(CompleteStepResponseSchema, {
          record: {
            step: req.step,
            status: StepStatus.COMPLETED,
            output: req.output,
            attempt: res.attempt,
          },
          paused: res.paused,
        });
      }
      // An output was stored before (the first one wins): answer with it.
      const stored = (await steps.stepAttempts(
        db,
        run.namespaceId,
        run.runId,
        "FUNCTION",
        ref.name,
        ref.occurrence,
      )).find((s) => s.status === "COMPLETED");
      return create(CompleteStepResponseSchema, {
        record: stored ? stepRecordToProto(stored) : undefined,
        paused: res.paused,
      });
    },

    async failStep(req) {
      const op = "fail step";
      const held = HeldRun.open(op, req);
      const info = await workers.get(op, held.namespaceId, held.workerId);
      const ref = stepRef(op, req.step, "FUNCTION");
      if (!req.error) throw new InvalidArgumentError("error", `Cannot ${op}: "error" is required`);
      const stepPolicy = checkRetryPolicy(op, "retry_policy", req.retryPolicy);
      const run = await runs.getRun(db, held.namespaceId, held.runId);
      if (!run || run.status !== "RUNNING" || run.fence !== held.fence) throw held.lost();
      const previous = await steps.stepAttempts(
        db,
        held.namespaceId,
        held.runId,
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
        retryFromJson(run.retry_policy),
        retryFromJson(info.defaultRetryPolicy),
      );
      const error = v.errorDetail(op, req.error);
      const delay = retryDelay(policy, attempt, error);
      const retryAt = delay === undefined ? null : new Date(ctx.clock.now() + delay);
      const res = await stepResults.failStep(
        db,
        held.step(ref),
        attempt,
        errorToJson(error),
        retryAt,
        dateOf(op, "started_at", req.startedAt) ?? null,
      );
      if (!res.held) throw held.lost();
      metrics.stepAttempt(held.namespaceId, run.workflow_type, "failed");
      return create(FailStepResponseSchema, {
        scheduledRetry: retryAt !== null,
        retryAt: retryAt ? timestampFromDate(retryAt) : undefined,
        attempt,
      });
    },
  };
}
