/** Handles of started runs, and the calls about one run: get, cancel. */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { WorkflowStatus as WireStatus } from "@kagzi/proto";
import { Call } from "../_call.ts";
import { retryDelay, sleep } from "../_backoff.ts";
import { workflowFromWire } from "../_convert.ts";
import { decodeJson } from "../_payload.ts";
import { type Duration, parseDuration } from "../duration.ts";
import { KagziError, WorkflowCancelledError, WorkflowFailedError } from "../errors.ts";
import type { Workflow } from "../types.ts";
import { rpc, type Services } from "./_services.ts";
import {
  listSignals,
  type ListSignalsOptions,
  sendSignal,
  type SignalInfo,
  type SignalOptions,
  type SignalSent,
} from "./signals.ts";

/** Options of {@linkcode WorkflowRun.result}. */
export interface ResultOptions {
  /** Give up (rejecting with a TIMEOUT KagziError) after this long. @default unlimited */
  timeout?: Duration;
  /** Stops waiting (rejecting with its reason) when aborted. */
  signal?: AbortSignal;
}

/** A started run. */
export interface WorkflowRun<T = unknown> {
  /** The run id. */
  readonly id: string;
  /** The idempotency key it was started with. */
  readonly workflowId: string;
  /** True when a live run with this workflow id existed and was returned instead. */
  readonly alreadyExists: boolean;
  /**
   * Set by `start()` when the run will wait on something that is not there now: no online
   * worker serves its workflow type and version (it runs once one registers).
   */
  readonly warning: string | undefined;
  /** Waits for the run to end: its output, or WorkflowFailedError / WorkflowCancelledError. */
  result(options?: ResultOptions): Promise<T>;
  /** Sends the run signal `name`; resolves once it is durably stored. */
  signal(name: string, payload?: unknown, options?: SignalOptions): Promise<SignalSent>;
  /** The run's signals, pending and consumed, oldest first. */
  listSignals(options?: ListSignalsOptions): Promise<SignalInfo[]>;
}

/** The handle of run `id` in `namespace`. */
export function makeRun<T>(
  services: Services,
  namespace: string,
  id: string,
  workflowId: string,
  alreadyExists: boolean,
  warning = "",
): WorkflowRun<T> {
  return {
    id,
    workflowId,
    alreadyExists,
    warning: warning || undefined,
    result: (options = {}) => waitForResult<T>(services, namespace, id, options),
    signal: (name, payload, options = {}) =>
      sendSignal(services, namespace, id, name, payload, options),
    listSignals: (options = {}) => listSignals(services, namespace, id, options),
  };
}

/** Errors of GetWorkflow that say something about the call, not a passing fault. */
const permanent = new Set(["NOT_FOUND", "INVALID_ARGUMENT", "UNAUTHORIZED", "PERMISSION_DENIED"]);

/**
 * Long-polls GetWorkflow until the run ends. Anything else in between (the server or its
 * database away, an internal error, a wait cut short) is waited out with backoff: the call
 * settles only with the run's outcome, its own timeout or abort, or a permanent error about
 * the call itself (an unknown run, a refused key).
 */
async function waitForResult<T>(
  services: Services,
  namespace: string,
  id: string,
  options: ResultOptions,
): Promise<T> {
  const limit = options.timeout === undefined
    ? Infinity
    : parseDuration(options.timeout, "timeout");
  const until = Date.now() + limit;
  for (let failures = 0;;) {
    options.signal?.throwIfAborted();
    const left = until - Date.now();
    if (left <= 0) {
      throw new KagziError("TIMEOUT", `Workflow run ${id} did not end within ${limit} ms`, {
        subject: "run",
        subjectId: id,
      });
    }
    let res;
    try {
      res = await services.workflows.getWorkflow({
        namespace,
        runId: id,
        waitForTerminal: durationFromMs(Math.min(left, 30_000)),
      }, { signal: options.signal, timeoutMs: Math.min(left, 30_000) + 10_000 });
      failures = 0;
    } catch (err) {
      const e = KagziError.from(err);
      if (options.signal?.aborted || permanent.has(e.code)) throw e;
      await sleep(Math.min(retryDelay(failures++, e), Math.max(0, left)), options.signal);
      continue;
    }
    const w = res.workflow!;
    switch (w.status) {
      case WireStatus.COMPLETED:
        return decodeJson(w.output, "output") as T;
      case WireStatus.FAILED:
        throw new WorkflowFailedError(id, w.error!);
      case WireStatus.CANCELLED:
        throw new WorkflowCancelledError(id, w.error?.message.replace(/^Cancelled:? ?/, "") ?? "");
    }
  }
}

/**
 * Starts a new run with the type, version, input and context of the finished run `runId`,
 * under the same workflow id, linked to it by `retriedFromRunId`.
 */
export function retryRun<T>(
  services: Services,
  namespace: string,
  runId: string,
): Promise<WorkflowRun<T>> {
  return rpc(async () => {
    const res = await services.workflows.retryWorkflow({ namespace, runId });
    return makeRun<T>(services, namespace, res.runId, res.workflowId, false);
  });
}

/** Options of `client.resume()`. */
export interface ResumeOptions {
  /**
   * Accept the code as it is now from the point where the run parked: the recorded steps its
   * replay did not ask for are set aside (kept as superseded, never replayed) and the code
   * runs on from there, running the steps it asks for. Without it the replay must match the
   * run's history, so deploy code that does first. @default false
   */
  fromHere?: boolean;
  /** The run's namespace. @default the client's */
  namespace?: string;
}

/** Lets a PARKED run be claimed again; resolves with the run as it is then (PENDING). */
export function resumeRun(
  services: Services,
  namespace: string,
  runId: string,
  options: ResumeOptions,
): Promise<Workflow> {
  return rpc(async () => {
    const res = await services.workflows.resumeWorkflow({
      namespace,
      runId,
      fromHere: options.fromHere ?? false,
    });
    return workflowFromWire(res.workflow!);
  });
}

/** Builder of a GetWorkflow request. */
export class GetCall extends Call<Workflow> {
  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly runId: string,
    namespace: string,
  ) {
    super(namespace);
  }
  /** Sends the request. */
  protected async execute(): Promise<Workflow> {
    const res = await this.services.workflows.getWorkflow({
      namespace: this.ns,
      runId: this.runId,
    });
    return workflowFromWire(res.workflow!);
  }
}

/** Builder of a CancelWorkflow request; resolves with the run as it is after cancelling. */
export class CancelCall extends Call<Workflow> {
  #reason = "";
  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly runId: string,
    namespace: string,
  ) {
    super(namespace);
  }
  /** Why; stored with the run. */
  reason(text: string): this {
    this.#reason = text;
    return this;
  }
  /** Sends the request. */
  protected async execute(): Promise<Workflow> {
    const res = await this.services.workflows.cancelWorkflow({
      namespace: this.ns,
      runId: this.runId,
      reason: this.#reason,
    });
    return workflowFromWire(res.workflow!);
  }
}
