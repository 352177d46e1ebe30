/** What a workflow function sees: named steps, durable sleeps and its identity. */
import type { Duration } from "./duration.ts";
import type { Retry } from "./retry.ts";

/** The function of a step; it may take an AbortSignal (timeout, cancellation, shutdown). */
export type StepFn<T> = (signal: AbortSignal) => T | Promise<T>;

/** A step being declared: set its retry policy and timeout, then `run` it. */
export interface StepBuilder {
  /** The retry policy of this step (else the worker's). */
  retry(policy: Retry): StepBuilder;
  /** Abort the attempt's signal and count it as a retryable failure after this long. */
  timeout(d: Duration): StepBuilder;
  /**
   * Runs `fn` once and stores its JSON-serializable result; on re-execution
   * returns the stored result without calling `fn`. Rejects with
   * `StepFailedError` when retries are exhausted.
   */
  run<T>(fn: StepFn<T>): Promise<T>;
}

/** The context of one workflow run. */
export interface Context {
  /** Declares the step `name`; repeated names are told apart by their order of use. */
  step(name: string): StepBuilder;
  /** Sleeps durably: the run is suspended and resumes, on any worker, after `duration`. */
  sleep(name: string, duration: Duration): Promise<void>;
  /** Sleeps durably until `date`; returns at once if it is in the past. */
  sleepUntil(name: string, date: Date): Promise<void>;
  /** The run id. */
  readonly runId: string;
  /** The idempotency key the run was started with. */
  readonly workflowId: string;
  /** The workflow type of the run. */
  readonly workflowType: string;
  /** The namespace the run is in. */
  readonly namespace: string;
  /** Executions of this run so far (1 on the first; grows after a lost worker). */
  readonly attempt: number;
  /** Aborted when the run is cancelled or the worker shuts down. */
  readonly signal: AbortSignal;
}

/** A workflow function: `(ctx, input) => Promise<output>`. */
// deno-lint-ignore no-explicit-any
export type WorkflowFn<I = any, O = unknown> = (ctx: Context, input: I) => Promise<O>;
