/**
 * WorkerService handlers for durable waits of a held run: ReceiveSignal, StartChild, and Sleep
 * (suspends the run until its sleeps, signals or children are due, or keeps a short sleep on
 * its worker: `_hold.ts`).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ErrorCode,
  ErrorDetailSchema,
  ReceiveSignalResponseSchema,
  SleepResponseSchema,
  StartChildResponseSchema,
  type WorkerService,
} from "@kagzi/proto";
import { InvalidArgumentError, type KagziServerError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import { ChildRaceError, startChild } from "../store/children.ts";
import * as queue from "../store/queue.ts";
import { suspendRunWithSteps } from "../store/suspend_steps.ts";
import { receiveSignal } from "../store/signals.ts";
import * as steps from "../store/steps.ts";
import { carriedSteps } from "./_carried_steps.ts";
import { heldIdError, isRefusal, planChild, refusalJson } from "./_child_start.ts";
import { handDueRun } from "./_handoff.ts";
import { heldUntilDue, holdable } from "./_hold.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson, ts } from "./_convert.ts";
import { HeldRun, stepRef } from "./_lease.ts";
import { stepRecordToProto } from "./_steps.ts";
import { dateOf } from "./_time.ts";

type WaitHandlers = Pick<
  ServiceImpl<typeof WorkerService>,
  "receiveSignal" | "startChild" | "sleep"
>;

/** The signal, child-workflow and sleep handlers of WorkerService. */
export function waitHandlers(ctx: ServiceContext): WaitHandlers {
  const { db } = ctx;
  return {
    async receiveSignal(req) {
      const op = "receive signal";
      const run = HeldRun.open(op, req);
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
        receiveSignal(tx, run.step(ref), timeoutAt, timedOut, ctx.clock.now())
      );
      if (!row) throw run.lost();
      return create(ReceiveSignalResponseSchema, { record: stepRecordToProto(row) });
    },

    async startChild(req) {
      const op = "start child workflow";
      const run = HeldRun.open(op, req);
      const { namespaceId } = run;
      const ref = stepRef(op, req.step, "CHILD");
      const key = run.step(ref);
      // A start refused for good starts nothing: the CHILD step records the refusal (code,
      // field, message), which the parent's ctx.child() throws (services/_child_start.ts).
      const defaultId = `${run.runId}/${ref.name}/${ref.occurrence}`;
      let refused: KagziServerError | undefined;
      const child = await planChild(ctx, op, namespaceId, req, defaultId).catch((err) => {
        if (!isRefusal(err)) throw err;
        refused = err;
        return { refusal: refusalJson(err) };
      });
      for (let i = 0;; i++) {
        try {
          const res = await db.transaction(async (tx) => {
            const res = await startChild(tx, key, child);
            if (res.kind !== "conflict" || "refusal" in child) return res;
            // Its id is held by an open run of another type (locked until this commits).
            const held = heldIdError(op, child, res.workflowType);
            return await startChild(tx, key, { refusal: refusalJson(held) });
          });
          // Not held: nothing is recorded; a bad request is still answered as such.
          if (res.kind === "lost") throw refused ?? run.lost();
          // Never: a refused start answers with its step.
          if (res.kind === "conflict") throw new Error("a refused child start conflicted");
          if (res.started && "workflowType" in child) {
            ctx.dispatch.runDue(namespaceId, child.workflowType);
            ctx.metrics.runStarted(namespaceId, child.workflowType);
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

    async sleep(req, call) {
      const op = "sleep";
      const run = HeldRun.open(op, req);
      const { namespaceId } = run;
      // Checked before anything is read or written.
      const carried = carriedSteps(op, run, req.steps);
      // No resume_at: the run waits for a signal or a child only, and is woken by it.
      let resumeAt = dateOf(op, "resume_at", req.resumeAt) ?? null;
      if (req.hold && !resumeAt) {
        throw new InvalidArgumentError(
          "resume_at",
          `Cannot ${op}: "hold" needs "resume_at" (the worker resumes the run then)`,
        );
      }
      if (!resumeAt) {
        const waits = await steps.waitState(db, namespaceId, run.runId);
        if (waits === "none") {
          throw new InvalidArgumentError(
            "resume_at",
            `Cannot ${op}: "resume_at" is required unless the run waits for a signal or a child`,
          );
        }
        // What it waited for ended after this execution read its steps (a child finished
        // between the claim and now): the run is due at once and replays with the outcome.
        if (waits === "satisfied") resumeAt = new Date(ctx.clock.now());
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
      const { runId, fence, workerId } = run;
      // Held: the run stays with its worker, answered when due (its sleeps alone are awaited).
      const hold = req.hold && holdable(ctx, resumeAt);
      const suspension = { namespaceId, runId, fence, workerId, sleeps, resumeAt, hold };
      // A hold with nothing to record (a step's retry, or sleeps recorded before) writes
      // nothing: only the wait, and the read that the run is still held.
      const suspended = hold && !sleeps.length && !carried.length
        ? { due: false, workflowType: "" }
        : carried.length
        ? await suspendRunWithSteps(db, suspension, carried)
        : await queue.suspendRun(db, suspension);
      if (!suspended) throw run.lost();
      for (const _ of carried) {
        ctx.metrics.stepAttempt(namespaceId, suspended.workflowType, "completed");
      }
      if (hold) {
        const due = { ...suspension, resumeAt: resumeAt! };
        if (!await heldUntilDue(ctx, due, call.signal, suspended.due)) throw run.lost();
        return create(SleepResponseSchema, { resumeAt: ts(resumeAt), held: true });
      }
      if (suspended.due) {
        // Due at once: to a poll waiting here, else to whichever poll claims it first.
        const handed = await handDueRun(ctx, namespaceId, runId, suspended.workflowType);
        if (!handed) ctx.notifier.publish(workTopic(namespaceId));
      } else if (resumeAt) ctx.notifier.publishAt(workTopic(namespaceId), resumeAt);
      return create(SleepResponseSchema, { resumeAt: ts(resumeAt) });
    },
  };
}
