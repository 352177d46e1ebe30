/**
 * `ContextImpl`, the `Context` a workflow function sees: steps, durable sleeps, signal
 * waits and children, each looked up in the stored records first (replay) and only run when
 * none is stored. The bookkeeping it relies on (occurrences, work in flight, suspension) is
 * the execution's (`_replay.ts`), reached through {@linkcode ContextHost}.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { StepKind, StepStatus, type Task } from "@kagzi/proto";
import type {
  AnyOptions,
  AnyResult,
  ChildBuilder,
  Context,
  SignalWaitOptions,
  StepBuilder,
  StepFn,
  Stream,
  Token,
  TokenOptions,
} from "./context.ts";
import { type StreamHost, StreamWriter } from "./_stream_writer.ts";
import { DurableWait } from "./_durable_wait.ts";
import { anyOf } from "./_any.ts";
import { createToken } from "./_tokens.ts";
import { childBuilder, waitForSignal, type WaitHost } from "./_waits.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError, StepFailedError } from "./errors.ts";
import { decodeJson } from "./_payload.ts";
import { checkDate } from "./_timestamp.ts";
import type { Retry } from "./retry.ts";
import { type AttemptHost, type AttemptResult, attemptStep } from "./_step_attempt.ts";

/** What the context needs of the execution that runs it. */
export interface ContextHost extends WaitHost, AttemptHost, StreamHost {
  /** Records a new durable sleep, sent with the run's suspension. */
  addSleep(name: string, occurrence: number, wakeUpAt: Date): void;
}

/**
 * The workflow context of one execution. Its members are bound (arrow functions), so a
 * workflow may destructure them: `const { step, sleep } = ctx`.
 */
export class ContextImpl implements Context {
  readonly runId: string;
  readonly workflowId: string;
  readonly workflowType: string;
  readonly namespace: string;
  readonly attempt: number;
  readonly signal: AbortSignal;
  readonly #host: ContextHost;
  readonly #streams = new Map<string, StreamWriter<unknown>>();

  constructor(host: ContextHost, task: Task, namespace: string) {
    this.#host = host;
    this.runId = task.runId;
    this.workflowId = task.workflowId;
    this.workflowType = task.workflowType;
    this.namespace = namespace;
    this.attempt = task.attempt;
    this.signal = host.signal;
  }

  step = (name: string): StepBuilder => {
    checkName(name, "step");
    let retry: Retry | undefined;
    let timeoutMs: number | undefined;
    let rateLimit: string | undefined;
    const builder: StepBuilder = {
      retry(policy) {
        retry = policy;
        return builder;
      },
      timeout(d) {
        timeoutMs = parseDuration(d, "timeout");
        return builder;
      },
      rateLimit(limitName) {
        checkName(limitName, "rate limit");
        rateLimit = limitName;
        return builder;
      },
      run: <T>(fn: StepFn<T>): Promise<T> => this.#step(name, retry, timeoutMs, fn, rateLimit),
    };
    return builder;
  };

  sleep = (name: string, duration: Duration): DurableWait<void> => {
    checkName(name, "sleep");
    return this.#sleep(name, () => {
      const ms = parseDuration(duration, "duration");
      return { at: new Date(this.#host.now() + ms), due: ms <= 0 };
    });
  };

  sleepUntil = (name: string, date: Date): DurableWait<void> => {
    checkName(name, "sleep");
    return this.#sleep(name, () => {
      const at = checkDate(date, "date", `ctx.sleepUntil("${name}")`);
      return { at, due: at.getTime() <= this.#host.now() };
    });
  };

  waitForSignal = <T = unknown>(name: string, options?: SignalWaitOptions): DurableWait<T> => {
    checkName(name, "signal");
    this.#host.trace.event("kagzi.signal_wait", {
      "kagzi.signal.name": name,
      "kagzi.signal.timeout": String(options?.timeout ?? ""),
    });
    return waitForSignal<T>(this.#host, name, options);
  };

  token = <T = unknown>(name: string, options?: TokenOptions): Promise<Token<T>> => {
    checkName(name, "token");
    return createToken<T>(this.#host, name, options);
  };

  any = <B extends Record<string, PromiseLike<unknown>>>(
    branches: B,
    options?: AnyOptions,
  ): Promise<AnyResult<B>> => {
    if (options?.name !== undefined) checkName(options.name, "ctx.any");
    return anyOf(this.#host, branches, options) as Promise<AnyResult<B>>;
  };

  child = (name: string): ChildBuilder => {
    checkName(name, "child");
    this.#host.trace.event("kagzi.child", { "kagzi.child.name": name });
    return childBuilder(this.#host, name);
  };

  stream = <T = unknown>(name: string): Stream<T> => {
    checkName(name, "stream");
    let s = this.#streams.get(name);
    if (!s) this.#streams.set(name, s = new StreamWriter(this.#host, name));
    return s as Stream<T>;
  };

  setTags = (tags: Record<string, string>): Promise<void> => {
    const problem = tagsProblem(tags);
    if (problem) {
      return Promise.reject(
        new KagziError("INVALID_ARGUMENT", `ctx.setTags(): ${problem}`, {
          subject: "tags",
          nonRetryable: true,
        }),
      );
    }
    // The server merges a completed "kagzi:tags" step's output into the run (migration 0008).
    return this.#step("kagzi:tags", undefined, undefined, () => ({ ...tags })).then(() => {});
  };

  /**
   * A durable sleep until `wakeAt().at`. One already due when it is made (a zero duration, a
   * date passed) passes without a record: so would it in every replay. One that comes due
   * between being made and being awaited (made before a slow step, awaited after it) is recorded
   * all the same, as any sleep: a replay, where the slow step comes back at once and the wake-up
   * is still ahead, then finds its record instead of a new sleep among later steps.
   */
  #sleep(name: string, wakeAt: () => { at: Date; due: boolean }): DurableWait<void> {
    const host = this.#host;
    if (host.gone()) {
      return new DurableWait<void>(
        { kind: StepKind.SLEEP, name, occurrence: 0, settle: () => host.never },
        () => host.never,
      );
    }
    // Numbered and timed now, whether it is awaited alone or raced by ctx.any().
    const { occurrence, record: rec } = host.next(StepKind.SLEEP, name);
    let at: Date | undefined;
    let due = false;
    let problem: unknown;
    try {
      ({ at, due } = wakeAt());
    } catch (err) {
      problem = err;
    }
    const run = (): Promise<void> => {
      if (host.gone()) return host.never;
      if (rec) {
        if (rec.due || rec.status === StepStatus.COMPLETED) return Promise.resolve();
        return host.sleepUntil(rec.wakeUpAt ? timestampDate(rec.wakeUpAt) : new Date());
      }
      if (problem || !at) return Promise.reject(problem);
      if (due) return Promise.resolve();
      host.addSleep(name, occurrence, at);
      host.trace.event("kagzi.sleep", {
        "kagzi.sleep.name": name,
        "kagzi.sleep.until": at.toISOString(),
      });
      return host.sleepUntil(at);
    };
    return new DurableWait<void>({
      kind: StepKind.SLEEP,
      name,
      occurrence,
      deadline: at,
      problem,
      settle: () => Promise.resolve(),
    }, run);
  }

  #step<T>(
    name: string,
    retry: Retry | undefined,
    timeoutMs: number | undefined,
    fn: StepFn<T>,
    rateLimit?: string,
  ): Promise<T> {
    const host = this.#host;
    if (host.gone()) return host.never;
    const { occurrence, record: rec } = host.next(StepKind.FUNCTION, name);
    if (rec?.status === StepStatus.COMPLETED) {
      return Promise.resolve().then(() => decodeJson(rec.output, `output of step "${name}"`) as T);
    }
    const call = { name, occurrence, retry, timeoutMs, fn, rateLimit };
    // A retry (or a rate limit's wait) the worker keeps the run through (see _timed_waits.ts)
    // runs the next attempt here; otherwise the replay after the suspension does.
    const attempt = (): Promise<T> => host.track(attemptStep(host, call)).then(settle);
    const settle = (r: AttemptResult<T>): T | Promise<T> => {
      switch (r.kind) {
        case "value":
          return r.value;
        case "error":
          throw r.error;
        case "wait":
          return host.sleepUntil(r.at).then(attempt);
        case "gone":
          return host.never;
      }
    };
    if (rec?.status === StepStatus.FAILED) {
      if (!rec.retryAt) return Promise.reject(new StepFailedError(name, rec.error!));
      if (!rec.due) return host.sleepUntil(timestampDate(rec.retryAt)).then(attempt);
    }
    return host.track(
      // A recorded step due for its retry is the history's own; only a new one must match it.
      (rec ? Promise.resolve(true) : host.fresh(StepKind.FUNCTION, name, occurrence)).then((ok) =>
        ok ? attemptStep(host, call) : { kind: "gone" as const }
      ),
    ).then(settle);
  }
}

/**
 * A step's name as the server takes it (its step references refuse any other for good): 1-256
 * characters, no control character, no U+FFFD or lone surrogate.
 */
function checkName(name: string, what: string): void {
  if (
    typeof name !== "string" || name === "" || name.length > 256 || unstorable.test(name)
  ) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Invalid ${what} name ${JSON.stringify(name)}: use 1-256 characters, none of them a ` +
        "control character",
      {
        subject: "name",
        nonRetryable: true,
      },
    );
  }
}

// deno-lint-ignore no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/;
/** A control character, U+FFFD (what invalid UTF-8 became) or a lone surrogate. */
const unstorable =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f\uFFFD]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What is wrong with a tag map for `ctx.setTags()`, or undefined. */
function tagsProblem(tags: Record<string, string>): string | undefined {
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) {
    return "tags must be an object of strings";
  }
  const entries = Object.entries(tags);
  if (entries.length > 32) return `${entries.length} tags; the limit is 32`;
  for (const [k, v] of entries) {
    if (typeof v !== "string") return `tag ${JSON.stringify(k)} is not a string`;
    if (k === "" || k.length > 64) return `tag key ${JSON.stringify(k)} must be 1-64 characters`;
    if (v.length > 256) return `tag ${JSON.stringify(k)} is longer than 256 characters`;
    if (controlChars.test(k + v)) return `tag ${JSON.stringify(k)} contains control characters`;
  }
  return undefined;
}
