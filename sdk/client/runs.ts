/** Handles of started runs, and the calls about one run: get, cancel. */
import { Call } from "../_call.ts";
import { workflowFromWire } from "../_convert.ts";
import type { Workflow } from "../types.ts";
import { rpc, type Services } from "./_services.ts";
import { makeHandle, type RunHandle } from "./handle.ts";

/** A started run: a {@linkcode RunHandle} that knows its ids and how the start went. */
export interface WorkflowRun<T = unknown> extends RunHandle<T> {
  /** The run id. */
  readonly id: string;
  /** The idempotency key it was started with. */
  readonly workflowId: string;
  /**
   * True when a run with this workflow id was returned instead of a new one: an open run, or
   * (with `onDuplicate("return-existing")`, the default) a retained one that has ended.
   */
  readonly alreadyExists: boolean;
  /**
   * Set by `start()` when the run will wait on something that is not there now: no online
   * worker serves its workflow type and version (it runs once one registers).
   */
  readonly warning: string | undefined;
  /**
   * True when the start joined the pending run of its debounce key (the type declares
   * `debounce`): that run is returned, and it will begin with this start's input.
   */
  readonly debounced: boolean;
}

/** The handle of run `id` in `namespace`. */
export function makeRun<T>(
  services: Services,
  namespace: string,
  id: string,
  workflowId: string,
  alreadyExists: boolean,
  warning = "",
  debounced = false,
): WorkflowRun<T> {
  return {
    ...makeHandle<T>(services, namespace, id),
    id,
    workflowId,
    alreadyExists,
    warning: warning || undefined,
    debounced,
  };
}

/** Options of `client.rerun()`. */
export interface RerunOptions {
  /**
   * Rerun from this step: the completed steps the old run began before its first attempt of a
   * step of this name keep their stored outputs (the new run replays them), and this step and
   * everything after it run again. A name the run has no step of is INVALID_ARGUMENT naming the
   * steps it has. @default none: every step runs again (as `client.retry()`)
   */
  fromStep?: string;
  /** The run's namespace. @default the client's */
  namespace?: string;
}

/**
 * Starts a new run with the type, version, input and context of the finished run `runId`,
 * under the same workflow id, linked to it by `retriedFromRunId`; from `fromStep` when given.
 */
export function retryRun<T>(
  services: Services,
  namespace: string,
  runId: string,
  fromStep = "",
): Promise<WorkflowRun<T>> {
  return rpc(async () => {
    const res = await services.workflows.retryWorkflow({ namespace, runId, fromStep });
    return makeRun<T>(services, namespace, res.runId, res.workflowId, false);
  });
}

/** Options of `client.resume()`. */
export interface ResumeOptions {
  /**
   * Accept the code as it is now from the point where the run parked: the recorded steps its
   * replay did not ask for are set aside (kept as superseded, never replayed) and the code
   * runs on from there, running the steps it asks for. Without it the replay must match the
   * run's history, so deploy code that does first. Only for PARKED runs (a PAUSED run is
   * INVALID_ARGUMENT). @default false
   */
  fromHere?: boolean;
  /** The run's namespace. @default the client's */
  namespace?: string;
}

/** Holds an open run as PAUSED; resolves with the run as it is then. */
export function pauseRun(services: Services, namespace: string, runId: string): Promise<Workflow> {
  return rpc(async () => {
    const res = await services.workflows.pauseWorkflow({ namespace, runId });
    return workflowFromWire(res.workflow!);
  });
}

/** Pauses a workflow type (its open runs, and every claim of it); how many runs it paused. */
export function pauseType(
  services: Services,
  namespace: string,
  workflowType: string,
): Promise<{ paused: number }> {
  return rpc(async () => {
    const res = await services.workflows.pauseWorkflowType({ namespace, workflowType });
    return { paused: res.runsPaused };
  });
}

/** Lets a paused type be claimed again and resumes its PAUSED runs; how many. */
export function resumeType(
  services: Services,
  namespace: string,
  workflowType: string,
): Promise<{ resumed: number }> {
  return rpc(async () => {
    const res = await services.workflows.resumeWorkflowType({ namespace, workflowType });
    return { resumed: res.runsResumed };
  });
}

/** Lets a PARKED or PAUSED run be claimed again; resolves with the run as it is then (PENDING). */
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
