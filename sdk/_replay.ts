/**
 * One execution of a run: replays stored steps, runs new ones, and ends with
 * exactly one of CompleteWorkflow, FailWorkflow or Sleep (suspend) — or
 * nothing when the run was taken away (cancelled, lease lost, released).
 *
 * Suspension is not an exception: a sleep or a scheduled retry returns a
 * promise that never settles in this execution. When the workflow function is
 * left waiting on such promises alone (no step in flight), the run is
 * suspended until the earliest of their times and the function is abandoned.
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Payload, StepKind, type StepRecord, StepStatus, type Task } from "@kagzi/proto";
import type {
  ChildBuilder,
  Context,
  SignalWaitOptions,
  StepBuilder,
  StepFn,
  WorkflowFn,
} from "./context.ts";
import { childBuilder, waitForSignal, type WaitHost } from "./_waits.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError, NonRetryableError, StepFailedError } from "./errors.ts";
import { toErrorDetail } from "./_errors_wire.ts";
import { decodeJson, encodeJson } from "./_payload.ts";
import { type Retry, retryToProto } from "./retry.ts";
import type { WorkerRpc } from "./_rpc.ts";
import { RunTrace } from "./_tracing.ts";

/** How an execution ended. */
export type Outcome = "completed" | "failed" | "suspended" | "abandoned";

const never = new Promise<never>(() => {});

/** Runs one claimed task to its outcome. */
export class Execution {
  readonly abort = new AbortController();
  readonly #records = new Map<string, StepRecord>();
  readonly #counters = new Map<string, number>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #sleeps: { name: string; occurrence: number; wakeUpAt: Date }[] = [];
  #resumeAt: Date | undefined;
  /** Something waits with no time limit (a signal, a child run): suspend even without resumeAt. */
  #waiting = false;
  #released = false;
  #stopping = false;
  #wakeIdle?: () => void;
  #idle = new Promise<void>((r) => (this.#wakeIdle = r));
  #releasedSignal?: () => void;
  #trace!: RunTrace;
  readonly #releasedP = new Promise<void>((r) => (this.#releasedSignal = r));

  constructor(
    private readonly rpc: WorkerRpc,
    private readonly task: Task,
    private readonly fn: WorkflowFn,
  ) {
    for (const r of task.steps) {
      if (r.step) this.#records.set(key(r.step.kind, r.step.name, r.step.occurrence), r);
    }
  }

  /** The lease this execution holds. */
  get lease(): { runId: string; fence: bigint } {
    return { runId: this.task.runId, fence: this.task.fence };
  }

  /** Steps executing now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * Winds the execution down for a shutdown: aborts its signals and starts no new
   * step, but still stores the outputs of steps that complete while it holds the
   * lease (so a step that finishes during shutdown is not run again elsewhere).
   */
  stop(reason: string): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.abort.abort(new KagziError("UNAVAILABLE", reason));
  }

  /** Stops the execution without reporting anything more (cancelled, lease lost, released). */
  release(reason: string): void {
    if (this.#released) return;
    this.#released = true;
    this.abort.abort(new KagziError("PRECONDITION_FAILED", reason));
    this.#releasedSignal!();
  }

  /** Resolves once no step is executing. */
  async settled(): Promise<void> {
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
  }

  /** Executes the run in a `kagzi.run <type>` span. */
  async execute(): Promise<Outcome> {
    this.#trace = new RunTrace(this.task, this.rpc.namespace);
    try {
      const outcome = await this.#execute();
      this.#trace.end(outcome);
      return outcome;
    } catch (err) {
      this.#trace.end("abandoned", err);
      throw err;
    }
  }

  async #execute(): Promise<Outcome> {
    let input: unknown;
    try {
      input = decodeJson(this.task.input, "input");
    } catch (err) {
      return await this.#finish({
        error: new NonRetryableError(
          `Cannot run workflow "${this.task.workflowType}": ${(err as Error).message}`,
        ),
      });
    }
    const ctx = this.#context();
    const result = Promise.resolve().then(() => this.#trace.within(() => this.fn(ctx, input))).then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
    const ended = await Promise.race([
      result,
      this.#idle.then(() => "suspend" as const),
      this.#releasedP.then(() => "released" as const),
    ]);
    await this.settled();
    if (this.#released || ended === "released") return "abandoned";
    // Shutting down: a function that failed because its signal was aborted did not fail.
    if (this.#stopping && ended !== "suspend" && "error" in ended) return "abandoned";
    if (ended === "suspend") return await this.#suspend();
    return await this.#finish(ended);
  }

  async #finish(ended: { value?: unknown; error?: unknown }): Promise<Outcome> {
    const { runId, fence } = this.lease;
    if ("error" in ended && ended.error !== undefined) {
      const ok = await this.rpc.call("failWorkflow", {
        lease: { runId, fence },
        error: toErrorDetail(ended.error),
      });
      return ok ? "failed" : "abandoned";
    }
    let output: Payload;
    try {
      output = encodeJson(ended.value, "workflow output");
    } catch (err) {
      return await this.#finish({ error: new NonRetryableError((err as Error).message) });
    }
    let ok;
    try {
      ok = await this.rpc.call("completeWorkflow", { lease: { runId, fence }, output });
    } catch (err) {
      // The server refused this output for good (too large, unstorable): the run fails with
      // why, rather than being retried forever from its lease.
      const refusal = permanentRefusal(err);
      if (!refusal) throw err;
      return await this.#finish({
        error: new NonRetryableError(`The workflow's output was refused: ${refusal}`),
      });
    }
    return ok ? "completed" : "abandoned";
  }

  async #suspend(): Promise<Outcome> {
    this.#trace.event("kagzi.suspend", {
      "kagzi.resume_at": (this.#resumeAt ?? new Date()).toISOString(),
    });
    const ok = await this.rpc.call("sleep", {
      lease: this.lease,
      sleeps: this.#sleeps.map((s) => ({
        step: { kind: StepKind.SLEEP, name: s.name, occurrence: s.occurrence },
        wakeUpAt: timestampFromDate(s.wakeUpAt),
      })),
      resumeAt: this.#resumeAt && timestampFromDate(this.#resumeAt),
    });
    return ok ? "suspended" : "abandoned";
  }

  /** Registers a wait; the run suspends when nothing else can make progress. */
  #waitUntil(at: Date): Promise<never> {
    if (!this.#resumeAt || at < this.#resumeAt) this.#resumeAt = at;
    this.#checkIdle();
    return never;
  }

  /** Registers a wait that only a signal or a child's end can end (the server wakes the run). */
  #waitForever(): Promise<never> {
    this.#waiting = true;
    this.#checkIdle();
    return never;
  }

  /** What signal waits and child workflows need of this execution (see _waits.ts). */
  #host(): WaitHost {
    return {
      gone: () => this.#released || this.#stopping,
      next: (kind, name) => {
        const occurrence = this.#next(kind, name);
        return { occurrence, record: this.#records.get(key(kind, name, occurrence)) };
      },
      track: <T>(p: Promise<T>): Promise<T> => {
        this.#inflight.add(p);
        const done = () => {
          this.#inflight.delete(p);
          this.#checkIdle();
        };
        p.then(done, done);
        return p;
      },
      waitUntil: (at) => this.#waitUntil(at),
      waitForever: () => this.#waitForever(),
      call: (method, req) => this.#report(() => this.rpc.call(method, req)),
      lease: this.lease,
      never,
    };
  }

  #checkIdle(): void {
    // Let pending microtasks (other branches starting steps) run before deciding.
    setTimeout(() => {
      if ((this.#resumeAt || this.#waiting) && this.#inflight.size === 0) this.#wakeIdle!();
    }, 0);
  }

  #next(kind: StepKind, name: string): number {
    const k = `${kind}:${name}`;
    const n = (this.#counters.get(k) ?? 0) + 1;
    this.#counters.set(k, n);
    return n;
  }

  #context(): Context {
    const t = this.task;
    return {
      runId: t.runId,
      workflowId: t.workflowId,
      workflowType: t.workflowType,
      namespace: this.rpc.namespace,
      attempt: t.attempt,
      signal: this.abort.signal,
      step: (name: string): StepBuilder => {
        checkName(name, "step");
        let retry: Retry | undefined;
        let timeoutMs: number | undefined;
        const builder: StepBuilder = {
          retry(policy) {
            retry = policy;
            return builder;
          },
          timeout(d) {
            timeoutMs = parseDuration(d, "timeout");
            return builder;
          },
          run: <T>(fn: StepFn<T>): Promise<T> => this.#step(name, retry, timeoutMs, fn),
        };
        return builder;
      },
      sleep: (name: string, duration: Duration): Promise<void> => {
        checkName(name, "sleep");
        return this.#sleep(name, () => new Date(Date.now() + parseDuration(duration, "duration")));
      },
      sleepUntil: (name: string, date: Date): Promise<void> => {
        checkName(name, "sleep");
        if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
          return Promise.reject(
            new KagziError(
              "INVALID_ARGUMENT",
              `ctx.sleepUntil("${name}"): "date" must be a valid Date`,
              { subject: "date" },
            ),
          );
        }
        return this.#sleep(name, () => date);
      },
      waitForSignal: <T = unknown>(name: string, options?: SignalWaitOptions): Promise<T> => {
        checkName(name, "signal");
        this.#trace.event("kagzi.signal_wait", {
          "kagzi.signal.name": name,
          "kagzi.signal.timeout": String(options?.timeout ?? ""),
        });
        return waitForSignal<T>(this.#host(), name, options);
      },
      child: (name: string): ChildBuilder => {
        checkName(name, "child");
        this.#trace.event("kagzi.child", { "kagzi.child.name": name });
        return childBuilder(this.#host(), name);
      },
    };
  }

  #sleep(name: string, wakeAt: () => Date): Promise<void> {
    if (this.#released || this.#stopping) return never;
    const occurrence = this.#next(StepKind.SLEEP, name);
    const rec = this.#records.get(key(StepKind.SLEEP, name, occurrence));
    if (rec) {
      if (rec.due || rec.status === StepStatus.COMPLETED) return Promise.resolve();
      return this.#waitUntil(rec.wakeUpAt ? timestampDate(rec.wakeUpAt) : new Date());
    }
    let at: Date;
    try {
      at = wakeAt();
    } catch (err) {
      return Promise.reject(err);
    }
    if (at.getTime() <= Date.now()) return Promise.resolve();
    this.#sleeps.push({ name, occurrence, wakeUpAt: at });
    this.#trace.event("kagzi.sleep", {
      "kagzi.sleep.name": name,
      "kagzi.sleep.until": at.toISOString(),
    });
    return this.#waitUntil(at);
  }

  #step<T>(
    name: string,
    retry: Retry | undefined,
    timeoutMs: number | undefined,
    fn: StepFn<T>,
  ): Promise<T> {
    if (this.#released || this.#stopping) return never;
    const occurrence = this.#next(StepKind.FUNCTION, name);
    const rec = this.#records.get(key(StepKind.FUNCTION, name, occurrence));
    if (rec?.status === StepStatus.COMPLETED) {
      return Promise.resolve().then(() => decodeJson(rec.output, `output of step "${name}"`) as T);
    }
    if (rec?.status === StepStatus.FAILED) {
      if (!rec.retryAt) return Promise.reject(new StepFailedError(name, rec.error!));
      if (!rec.due) return this.#waitUntil(timestampDate(rec.retryAt));
    }
    const p = this.#attempt(name, occurrence, retry, timeoutMs, fn);
    this.#inflight.add(p);
    const done = () => {
      this.#inflight.delete(p);
      this.#checkIdle();
    };
    p.then(done, done);
    return p.then((r): T | Promise<T> => {
      switch (r.kind) {
        case "value":
          return r.value;
        case "error":
          throw r.error;
        case "wait":
          return this.#waitUntil(r.at);
        case "gone":
          return never;
      }
    });
  }

  /**
   * Sends a step's outcome. When the server cannot be reached (or refuses it), the
   * execution is abandoned rather than failing user code: the lease then expires
   * and the run resumes elsewhere from what was stored.
   */
  async #report<R>(send: () => Promise<R | undefined>): Promise<R | undefined> {
    try {
      const res = await send();
      if (res === undefined) this.release("lease lost");
      return res;
    } catch (err) {
      this.release(`could not report to the server: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** One attempt of a step, in a `kagzi.step <name>` span. */
  async #attempt<T>(
    name: string,
    occurrence: number,
    retry: Retry | undefined,
    timeoutMs: number | undefined,
    fn: StepFn<T>,
  ): Promise<AttemptResult<T>> {
    const span = this.#trace.step(name, occurrence);
    const result = await span.within(() => this.#try(name, occurrence, retry, timeoutMs, fn));
    span.end(result);
    return result;
  }

  async #try<T>(
    name: string,
    occurrence: number,
    retry: Retry | undefined,
    timeoutMs: number | undefined,
    fn: StepFn<T>,
  ): Promise<AttemptResult<T>> {
    const step = { kind: StepKind.FUNCTION, name, occurrence };
    // No step starts once the lease may have expired (the worker was frozen or cut off):
    // only a heartbeat that extends the lease lets the run go on (see _lease.ts).
    const held = this.rpc.leases.hold(this.lease);
    if (held !== true && !(await held)) this.release("the lease may have expired");
    if (this.#released || this.#stopping) return { kind: "gone" };
    const startedAt = timestampFromDate(new Date());
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener("abort", onAbort);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let outcome: { value: T } | { error: unknown };
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
      outcome = { value };
    } catch (error) {
      outcome = { error };
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener("abort", onAbort);
    }
    if (this.#released) return { kind: "gone" };
    // A step aborted by a shutdown did not fail: it runs again after the release.
    if (this.#stopping && "error" in outcome) return { kind: "gone" };
    if ("value" in outcome) {
      let output: Payload;
      try {
        output = encodeJson(outcome.value, `output of step "${name}"`);
      } catch (err) {
        outcome = { error: new NonRetryableError((err as Error).message) };
      }
      let refused: string | undefined;
      if ("value" in outcome) {
        const res = await this.#report(() =>
          this.rpc.call("completeStep", { lease: this.lease, step, output: output!, startedAt })
            .catch((err) => {
              // Refused for good (too large, unstorable): the step fails, not the worker.
              refused = permanentRefusal(err);
              if (!refused) throw err;
              return null;
            })
        );
        if (res === undefined) return { kind: "gone" };
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
    const error = toErrorDetail(outcome.error);
    const res = await this.#report(() =>
      this.rpc.call("failStep", {
        lease: this.lease,
        step,
        error,
        retryPolicy: retry && retryToProto(retry),
        startedAt,
      })
    );
    if (!res) return { kind: "gone" };
    if (res.scheduledRetry && res.retryAt) return { kind: "wait", at: timestampDate(res.retryAt) };
    return { kind: "error", error: new StepFailedError(name, error) };
  }
}

/** The server's reason when it refused a call for good (a retry would be refused again). */
function permanentRefusal(err: unknown): string | undefined {
  const e = KagziError.from(err);
  return e.code === "INVALID_ARGUMENT" || e.code === "RESOURCE_EXHAUSTED" ? e.message : undefined;
}

type AttemptResult<T> =
  | { kind: "value"; value: T }
  | { kind: "error"; error: unknown }
  | { kind: "wait"; at: Date }
  | { kind: "gone" };

function key(kind: StepKind, name: string, occurrence: number): string {
  return `${kind}:${name}#${occurrence}`;
}

function checkName(name: string, what: string): void {
  if (typeof name !== "string" || name === "" || name.length > 256) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Invalid ${what} name ${JSON.stringify(name)}: use 1-256 characters`,
      {
        subject: "name",
        nonRetryable: true,
      },
    );
  }
}
