/** What a workflow function sees: named steps, durable sleeps and its identity. */
import type { Duration } from "./duration.ts";
import type { Retry } from "./retry.ts";
import type { AnyWorkflowRef, InputOf, OutputOf } from "./workflow_ref.ts";

/** The function of a step; it may take an AbortSignal (timeout, cancellation, shutdown). */
export type StepFn<T> = (signal: AbortSignal) => T | Promise<T>;

/** A step being declared: set its retry policy and timeout, then `run` it. */
export interface StepBuilder {
  /** The retry policy of this step (else the worker's). */
  retry(policy: Retry): StepBuilder;
  /** Abort the attempt's signal and count it as a retryable failure after this long. */
  timeout(d: Duration): StepBuilder;
  /**
   * Takes a token of the named rate limit (`client.setRateLimit(name, { limit, period })`,
   * shared by every worker) before each attempt. Over the limit, the run suspends durably
   * until a token is free, like a scheduled retry, then the step runs: no busy-wait, and no
   * attempt counted. A name that is not defined fails the step (`INVALID_ARGUMENT`, subject
   * `rate_limit`).
   */
  rateLimit(name: string): StepBuilder;
  /**
   * Runs `fn` once and stores its result; on re-execution returns the stored
   * result without calling `fn`. The result must round-trip through JSON (plain
   * objects, arrays, strings, finite numbers, booleans, null): a Map, Set, Date,
   * BigInt or class instance fails the step at once, saying where it sits.
   * Whatever `fn` throws is one failed attempt, retried by the policy; rejects
   * with `StepFailedError` when retries are exhausted. Resolves with the value as
   * a replay would see it, possibly before its output is stored: the output is
   * stored before anything else of the run happens (the next step, a wait, any
   * call, the run's end — a run that returns or sleeps right after sends it with
   * its completion or its sleep), so only the code between steps sees a value not
   * yet stored.
   */
  run<T>(fn: StepFn<T>): Promise<T>;
}

/** Options of `ctx.waitForSignal`. */
export interface SignalWaitOptions {
  /** Give up after this long with `SignalTimeoutError` (a duration like `ctx.sleep`'s). */
  timeout?: Duration;
}

/** Options of `ctx.token`. */
export interface TokenOptions {
  /**
   * After this long (a duration like `ctx.sleep`'s) the token expires: it takes no completion
   * and `wait()` rejects with `TokenTimeoutError`. @default no timeout
   */
  timeout?: Duration;
}

/** A token of the run: anyone holding its id (with an API key) or its URL can complete it. */
export interface Token<T = unknown> {
  /** The token's id, for `client.completeToken(id, value)` / `client.failToken(id, reason)`. */
  readonly id: string;
  /** Its signed callback URL: a `POST` with a JSON body completes it, with no API key. */
  readonly url: string;
  /**
   * Waits durably for the token's value; rejects with `TokenTimeoutError` after its timeout, or
   * `TokenFailedError` when it was failed. Can be raced with `ctx.any`.
   */
  wait(): Promise<T>;
}

/** Options of `ctx.any`. */
export interface AnyOptions {
  /** The name of the wait in the run's history. @default the keys joined by "|" */
  name?: string;
}

/** What `ctx.any` resolves with: the key of the branch that won and its value. */
export type AnyResult<B extends Record<string, PromiseLike<unknown>>> = {
  [K in keyof B & string]: { key: K; value: Awaited<B[K]> };
}[keyof B & string];

/** A started child run: its id and, durably awaited, its result. */
export interface ChildHandle<O = unknown> {
  /** The child's run id. */
  readonly runId: string;
  /**
   * The child's output; rejects with `WorkflowFailedError` or `WorkflowCancelledError`.
   * The parent suspends (freeing its worker slot) until the child ends.
   */
  result(): Promise<O>;
}

/** A child workflow being declared: set its options, then `run` or `start` it. */
export interface ChildBuilder {
  /** The child's workflow id (default: derived from the parent run and this child's name). */
  id(workflowId: string): ChildBuilder;
  /** The version of the workflow type to run (default: the namespace's default version). */
  version(version: string): ChildBuilder;
  /** What happens to the child when the parent ends first. @default "cancel" */
  onParentClose(policy: "cancel" | "abandon"): ChildBuilder;
  /** Starts the child and waits durably for its output. */
  run<W extends AnyWorkflowRef>(workflow: W, input: InputOf<W>): Promise<OutputOf<W>>;
  /** Starts the child of a workflow type named by a string and waits for its output. */
  run<O = unknown>(type: string, input?: unknown): Promise<O>;
  /** Starts the child (once, even on replay) and returns its handle. */
  start<W extends AnyWorkflowRef>(
    workflow: W,
    input: InputOf<W>,
  ): Promise<ChildHandle<OutputOf<W>>>;
  /** Starts the child of a workflow type named by a string and returns its handle. */
  start<O = unknown>(type: string, input?: unknown): Promise<ChildHandle<O>>;
}

/**
 * A stream of the run (`ctx.stream(name)`): ordered values for anyone following the run
 * (`client.handle(runId).stream(name)`, the dashboard, `kagzi run stream`, or
 * `GET /v1/runs/{runId}/streams/{name}`).
 */
export interface Stream<T = unknown> {
  /**
   * Appends `value` (JSON, at most 4 MiB) and resolves once it is stored. Memoized like a
   * step: the n-th write of a run to this stream is stored once, so a replay after a crash
   * does not write it again. Writes are stored in the order they are made, without waiting
   * for each other; await them (or the run's end does) to know they are stored.
   */
  write(value: T): Promise<void>;
  /** Closes the stream: followers end after its last value. A run's streams close when it ends. */
  close(): Promise<void>;
}

/** The context of one workflow run. */
export interface Context {
  /** Declares the step `name`; repeated names are told apart by their order of use. */
  step(name: string): StepBuilder;
  /**
   * Sleeps durably: the run is suspended and resumes, on any worker, after `duration`, counted
   * from this call (a sleep made before a slow step and awaited after it may be over by then;
   * the run then goes on without waiting).
   */
  sleep(name: string, duration: Duration): Promise<void>;
  /** Sleeps durably until `date`; returns at once if it is in the past when called. */
  sleepUntil(name: string, date: Date): Promise<void>;
  /**
   * Waits durably for the oldest unconsumed signal `name` sent to this run and returns its
   * payload; signals sent before the wait are kept. Rejects with `SignalTimeoutError` after
   * `options.timeout`. Waiting again for the same name takes the next signal.
   */
  waitForSignal<T = unknown>(name: string, options?: SignalWaitOptions): Promise<T>;
  /** Declares the child workflow `name`; repeated names are told apart by their order of use. */
  child(name: string): ChildBuilder;
  /**
   * Creates the token `name` of this run (once: a replay gets the same id and URL), for a
   * person or another system to complete; `await t.wait()` waits durably for its value.
   */
  token<T = unknown>(name: string, options?: TokenOptions): Promise<Token<T>>;
  /**
   * Waits for whichever of several waits resolves first — `ctx.waitForSignal(…)`, a token's
   * `wait()`, `ctx.child(…).run(…)` or a child handle's `result()`, `ctx.sleep(…)` — passed
   * unawaited. The winner is recorded and a replay returns it again; the others are abandoned
   * (a signal no branch took stays in the mailbox for a later wait). Resolves with
   * `{ key, value }` (a sleep's value is undefined), or rejects with the winner's error (a
   * timeout, a failed token or child).
   */
  any<B extends Record<string, PromiseLike<unknown>>>(
    branches: B,
    options?: AnyOptions,
  ): Promise<AnyResult<B>>;
  /**
   * Merges `tags` into the run's searchable tags (`client.list().tag()`). Memoized: it is a step
   * named "kagzi:tags" (listed with the run's steps), so a replay does not set them again. At
   * most 32 tags a call; keys 1-64 and values up to 256 characters, no control characters.
   */
  setTags(tags: Record<string, string>): Promise<void>;
  /**
   * The stream `name` of this run (1-256 characters): `write` values to it, `close` it. Every
   * call with one name returns the same stream.
   */
  stream<T = unknown>(name: string): Stream<T>;
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
