/**
 * The end of an execution: FailWorkflow with the workflow's error, CompleteWorkflow with its
 * output, ParkWorkflow at a replay mismatch, or Sleep when it only waits, each completion or suspension with the step outputs held
 * back for it (`_deferred_outputs.ts`). An output the server refuses for good fails the run with
 * why.
 */
import type { Payload, StepRef, Task } from "@kagzi/proto";
import { describeMismatch, refText } from "./_mismatch.ts";
import { NonRetryableError } from "./errors.ts";
import { toErrorDetail } from "./_errors_wire.ts";
import { encodeJson } from "./_payload.ts";
import type { DeferredOutputs, HeldOutput } from "./_deferred_outputs.ts";
import type { Req, WorkerRpc } from "./_rpc.ts";
import { permanentRefusal } from "./_step_attempt.ts";
import type { Logger } from "./logger.ts";

/** What reporting a run's end needs of its execution. */
export interface EndHost {
  readonly rpc: WorkerRpc;
  readonly task: Task;
  readonly log: Logger;
  readonly deferred: DeferredOutputs;
  /** The execution was released (the lease is gone): report nothing more. */
  released(): boolean;
  /** The fields every log line about this run carries. */
  fields(): Record<string, unknown>;
}

/** Reports how the workflow function ended; "abandoned" when the lease was gone. */
export async function reportEnd(
  h: EndHost,
  ended: { value?: unknown; error?: unknown },
): Promise<"completed" | "failed" | "abandoned"> {
  const { runId, fence, workflowType } = h.task;
  const lease = { runId, fence };
  if ("error" in ended && ended.error !== undefined) {
    // The outputs the workflow went on with are stored before its failure.
    await h.deferred.flush();
    if (h.released()) return "abandoned";
    const error = toErrorDetail(ended.error);
    const ok = await h.rpc.call("failWorkflow", { lease, error });
    if (ok) {
      h.log.error(`run ${runId} (${workflowType}) failed: ${error.message}`, {
        ...h.fields(),
        error: error.message,
        errorName: error.name,
      });
    }
    return ok ? "failed" : "abandoned";
  }
  let output: Payload;
  try {
    output = encodeJson(ended.value, "workflow output");
  } catch (err) {
    return await reportEnd(h, { error: new NonRetryableError((err as Error).message) });
  }
  const steps = await h.deferred.carry();
  if (h.released()) return "abandoned";
  let ok;
  try {
    ok = await h.rpc.call("completeWorkflow", {
      lease,
      output,
      steps: wireSteps(steps),
    });
  } catch (err) {
    // The server refused this output for good (too large, unstorable): the run fails with
    // why, rather than being retried forever from its lease.
    const refusal = permanentRefusal(err);
    if (!refusal) throw err;
    if (steps.length) {
      // Perhaps for a step output it carried: those are stored on their own first.
      h.deferred.restore(steps);
      await h.deferred.flush();
      return h.released() ? "abandoned" : await reportEnd(h, ended);
    }
    return await reportEnd(h, {
      error: new NonRetryableError(`The workflow's output was refused: ${refusal}`),
    });
  }
  if (ok) h.deferred.stored(steps);
  if (ok) h.log.debug(`run ${runId} (${workflowType}) completed`, h.fields());
  return ok ? "completed" : "abandoned";
}

/**
 * Suspends the run (Sleep), carrying the held-back outputs to a server that stores them with
 * the suspension; "held" when it asked to keep the run (`hold`) and the server does, "abandoned"
 * when the lease was gone.
 */
export async function reportSuspend(
  h: EndHost,
  req: Omit<Req<"sleep">, "steps">,
): Promise<"suspended" | "held" | "abandoned"> {
  const steps = h.rpc.carries.stepsWithSleep ? await h.deferred.carry() : [];
  if (h.released()) return "abandoned";
  let ok;
  try {
    ok = await h.rpc.call("sleep", { ...req, steps: wireSteps(steps) });
  } catch (err) {
    if (!steps.length || !permanentRefusal(err)) throw err;
    // Refused for good, perhaps for a step output it carried: those are stored on their own
    // first (where a refused output releases the execution), then the run suspends.
    h.deferred.restore(steps);
    await h.deferred.flush();
    if (h.released()) return "abandoned";
    ok = await h.rpc.call("sleep", req);
  }
  if (ok && steps.length) h.deferred.stored(steps);
  return !ok ? "abandoned" : ok.held ? "held" : "suspended";
}

/**
 * Parks the run at a replay mismatch: it asked for `asked` where the history has `left` still
 * unasked; "abandoned" when the lease was gone.
 */
export async function reportPark(
  h: EndHost,
  left: StepRef[],
  asked: StepRef,
): Promise<"parked" | "abandoned"> {
  const { runId, fence, workflowType } = h.task;
  const ok = await h.rpc.call("parkWorkflow", {
    lease: { runId, fence },
    expected: left[0],
    asked,
    unasked: left,
  });
  if (!ok) return "abandoned";
  h.log.error(
    `run ${runId} (${workflowType}) parked: ${describeMismatch(left[0], asked)}`,
    { ...h.fields(), expected: refText(left[0]), asked: refText(asked) },
  );
  return "parked";
}

/** Held-back outputs as a call's `steps`. */
function wireSteps(held: HeldOutput[]) {
  return held.map(({ step, output, startedAt }) => ({ step, output, startedAt }));
}
