/**
 * One attempt of a step: checks the lease is still held, runs the function with its timeout
 * and abort signal, and reports the outcome (CompleteStep, or FailStep, whose answer says
 * whether a retry is scheduled). Replay bookkeeping (which attempt, memoized outputs) stays
 * in `_replay.ts`; the step API that calls this is in `_context_impl.ts`.
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Payload, StepKind, StepStatus } from "@kagzi/proto";
import type { StepFn } from "./context.ts";
import { KagziError, NonRetryableError, StepFailedError } from "./errors.ts";
import { toErrorDetail } from "./_errors_wire.ts";
import { decodeJson, encodeJson } from "./_payload.ts";
import { type Retry, retryToProto } from "./retry.ts";
import type { Req, WorkerRpc } from "./_rpc.ts";
import type { OutputSpan, RunTrace, StepTrace } from "./_tracing.ts";
import type { Logger } from "./logger.ts";

/** How an attempt ended: a value, a failure for good, a scheduled retry, or nothing (released). */
export type AttemptResult<T> =
  | { kind: "value"; value: T }
  | { kind: "error"; error: unknown }
  | { kind: "wait"; at: Date }
  | { kind: "gone" };

/** What an attempt needs of the execution it runs in. */
export interface AttemptHost {
  readonly rpc: WorkerRpc;
  readonly lease: { runId: string; fence: bigint };
  /** The execution's signal: aborted when it is stopped or released. */
  readonly signal: AbortSignal;
  readonly trace: RunTrace;
  readonly log: Logger;
  /** The run's workflow type, for log lines. */
  readonly workflowType: string;
  /** The server's time (ms): when the attempt started. */
  now(): number;
  /** The execution was released (cancelled, lease lost): report nothing more. */
  released(): boolean;
  /** The execution is winding down for a shutdown. */
  stopping(): boolean;
  release(reason: string): void;
  /** Sends a report; undefined (and the execution released) when it could not be made. */
  report<R>(send: () => Promise<R | undefined>): Promise<R | undefined>;
  /** Stores the step outputs held back for the completion (see `_deferred_outputs.ts`). */
  flush(): Promise<void>;
  /**
   * Holds a step output back for the completion (true), or false: store it now. `span` is
   * ended once the output is stored (or never will be by this execution).
   */
  defer(out: Req<"completeStep">, span: OutputSpan): boolean;
}

/** What a step attempt is: its name and occurrence, retry policy and timeout. */
export interface StepCall<T> {
  name: string;
  occurrence: number;
  retry: Retry | undefined;
  timeoutMs: number | undefined;
  fn: StepFn<T>;
  /** The named rate limit each attempt takes a token of before it runs. */
  rateLimit?: string;
}

/** One attempt of a step, in a `kagzi.step <name>` span. */
export async function attemptStep<T>(
  host: AttemptHost,
  call: StepCall<T>,
): Promise<AttemptResult<T>> {
  const span = host.trace.step(call.name, call.occurrence);
  const output = heldSpan(span);
  const result = await span.within(() => tryStep(host, call, output));
  // A held-back output's span ends when the output is stored, as a stored one's does.
  if (!output.held) span.end(result);
  return result;
}

/** The span of a step whose output may be held back: then it ends once the output is stored. */
function heldSpan(span: StepTrace): OutputSpan & { held: boolean } {
  return {
    held: false,
    within: (fn) => span.within(fn),
    end: (stored) => span.end(stored ? { kind: "value" } : { kind: "gone" }),
  };
}

async function tryStep<T>(
  host: AttemptHost,
  { name, occurrence, retry, timeoutMs, fn, rateLimit }: StepCall<T>,
  span: OutputSpan & { held: boolean },
): Promise<AttemptResult<T>> {
  const step = { kind: StepKind.FUNCTION, name, occurrence };
  // No step starts before the outputs the workflow went on with are stored.
  await host.flush();
  // No step starts once the lease may have expired (the worker was frozen or cut off):
  // only a heartbeat that extends the lease lets the run go on (see _lease.ts).
  const held = host.rpc.leases.hold(host.lease);
  if (held !== true && !(await held)) host.release("the lease may have expired");
  if (host.released() || host.stopping()) return { kind: "gone" };
  let outcome: { value: T } | { error: unknown } | undefined;
  if (rateLimit !== undefined) {
    const token = await takeToken<T>(host, step, rateLimit);
    if ("kind" in token) return token;
    if ("error" in token) outcome = token;
  }
  const startedAt = timestampFromDate(new Date(host.now()));
  outcome ??= await runFn(host.signal, name, timeoutMs, fn);
  if (host.released()) return { kind: "gone" };
  // A step aborted by a shutdown did not fail: it runs again after the release.
  if (host.stopping() && "error" in outcome) return { kind: "gone" };
  if ("value" in outcome) {
    let output: Payload;
    try {
      output = encodeJson(outcome.value, `output of step "${name}"`);
    } catch (err) {
      outcome = { error: new NonRetryableError((err as Error).message) };
    }
    let refused: string | undefined;
    const req = { lease: host.lease, step, output: output!, startedAt };
    if ("value" in outcome && host.defer(req, span)) {
      span.held = true;
      // Stored before anything else of the run happens, or with its completion: the workflow
      // goes on with the value as a replay would see it.
      try {
        return { kind: "value", value: decodeJson(output!, `output of step "${name}"`) as T };
      } catch (error) {
        return { kind: "error", error };
      }
    }
    if ("value" in outcome) {
      const res = await host.report(() =>
        host.rpc.call("completeStep", req)
          .catch((err) => {
            // Refused for good (too large, unstorable): the step fails, not the worker.
            refused = permanentRefusal(err);
            if (!refused) throw err;
            return null;
          })
      );
      if (res === undefined) return { kind: "gone" };
      // Paused while the step ran: its output is stored; the execution stops before the next.
      if (res?.paused) host.release("the run was paused");
      if (res !== null) {
        // Return what is stored (the first stored output wins), exactly as a replay would.
        try {
          return {
            kind: "value",
            value: decodeJson(res.record?.output ?? output!, `output of step "${name}"`) as T,
          };
        } catch (error) {
          return { kind: "error", error };
        }
      }
      outcome = {
        error: new NonRetryableError(`The output of step "${name}" was refused: ${refused}`),
      };
    }
  }
  // Causes only to a server that stores them: a replay must see what this execution sees.
  const error = toErrorDetail(outcome.error, host.rpc.carries.errorCauses);
  const res = await host.report(() =>
    host.rpc.call("failStep", {
      lease: host.lease,
      step,
      error,
      retryPolicy: retry && retryToProto(retry),
      startedAt,
    })
  );
  if (!res) return { kind: "gone" };
  const retryAt = res.scheduledRetry && res.retryAt ? timestampDate(res.retryAt) : undefined;
  const where = `step "${name}"${occurrence > 1 ? `#${occurrence}` : ""} of run ` +
    `${host.lease.runId} (${host.workflowType})`;
  host.log.warn(
    `${where} failed (attempt ${res.attempt}): ${error.message}; ` +
      (retryAt ? `retry at ${retryAt.toISOString()}` : "no retry left"),
    {
      runId: host.lease.runId,
      type: host.workflowType,
      step: name,
      occurrence,
      attempt: res.attempt,
      error: error.message,
      errorName: error.name,
      retryAt: retryAt?.toISOString(),
    },
  );
  if (retryAt) return { kind: "wait", at: retryAt };
  return { kind: "error", error: new StepFailedError(name, error) };
}

/**
 * Takes a token of the step's named rate limit (BeginStep): `{}` when taken, a wait when none
 * is free (the run suspends until then; nothing is recorded, so it is no attempt), an error
 * the attempt fails with when the server refuses the limit for good (e.g. not defined).
 */
async function takeToken<T>(
  host: AttemptHost,
  step: { kind: StepKind; name: string; occurrence: number },
  rateLimit: string,
): Promise<AttemptResult<T> | { error: unknown } | Record<never, never>> {
  let refused: KagziError | undefined;
  const res = await host.report(() =>
    host.rpc.call("beginStep", { lease: host.lease, step, rateLimit }).catch((err) => {
      if (!permanentRefusal(err)) throw err;
      refused = KagziError.from(err);
      return null;
    })
  );
  if (res === undefined || host.released()) return { kind: "gone" };
  if (res === null) {
    const error = new KagziError(refused!.code, refused!.message, {
      subject: refused!.subject || "rate_limit",
      subjectId: rateLimit,
      nonRetryable: true,
    });
    error.name = "RateLimitError";
    return { error };
  }
  if (res.rateLimitedUntil) {
    const at = timestampDate(res.rateLimitedUntil);
    host.log.debug(
      `step "${step.name}" of run ${host.lease.runId} waits for rate limit "${rateLimit}" ` +
        `until ${at.toISOString()}`,
      { runId: host.lease.runId, step: step.name, rateLimit, until: at.toISOString() },
    );
    return { kind: "wait", at };
  }
  if (!res.shouldExecute) {
    // Stored meanwhile (another execution of this run got there first): as a replay would.
    const rec = res.record;
    if (rec?.status === StepStatus.COMPLETED) {
      try {
        return {
          kind: "value",
          value: decodeJson(rec.output, `output of step "${step.name}"`) as T,
        };
      } catch (error) {
        return { kind: "error", error };
      }
    }
    if (rec?.error) return { kind: "error", error: new StepFailedError(step.name, rec.error) };
  }
  return {};
}

/** Runs the step function under its own signal (the execution's, and its timeout's). */
async function runFn<T>(
  signal: AbortSignal,
  name: string,
  timeoutMs: number | undefined,
  fn: StepFn<T>,
): Promise<{ value: T } | { error: unknown }> {
  const ctrl = new AbortController();
  const onAbort = () => ctrl.abort(signal.reason);
  signal.addEventListener("abort", onAbort);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timedOut = new Promise<never>((_, reject) => {
      if (timeoutMs === undefined) return;
      timer = setTimeout(() => {
        const err = new KagziError("TIMEOUT", `Step "${name}" timed out after ${timeoutMs} ms`);
        err.name = "TimeoutError";
        ctrl.abort(err);
        reject(err);
      }, timeoutMs);
    });
    const value = await Promise.race([Promise.resolve().then(() => fn(ctrl.signal)), timedOut]);
    return { value };
  } catch (error) {
    return { error };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/** The server's reason when it refused a call for good (a retry would be refused again). */
export function permanentRefusal(err: unknown): string | undefined {
  const e = KagziError.from(err);
  return e.code === "INVALID_ARGUMENT" || e.code === "RESOURCE_EXHAUSTED" ? e.message : undefined;
}
