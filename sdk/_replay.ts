/**
 * One execution of a run: replays stored steps, runs new ones, and ends with
 * exactly one of CompleteWorkflow, FailWorkflow or Sleep (suspend) — or
 * nothing when the run was taken away (cancelled, lease lost, released).
 *
 * Suspension is not an exception: a sleep or a scheduled retry returns a
 * promise that never settles in this execution. When the workflow function is
 * left waiting on such promises alone (no step in flight), the run is
 * suspended until the earliest of their times and the function is abandoned.
 *
 * The context the function sees is `ContextImpl` (`_context_impl.ts`); one attempt of a
 * step, with its report, is `_step_attempt.ts`. This file keeps the replay bookkeeping.
 */
import { create } from "@bufbuild/protobuf";
import { StepKind, type StepRef, StepRefSchema, type Task } from "@kagzi/proto";
import { History } from "./_mismatch.ts";
import type { WorkflowFn } from "./context.ts";
import { type ContextHost, ContextImpl } from "./_context_impl.ts";
import { KagziError, NonRetryableError } from "./errors.ts";
import { DeferredOutputs } from "./_deferred_outputs.ts";
import { decodeJson } from "./_payload.ts";
import type { WorkerRpc } from "./_rpc.ts";
import { type EndHost, reportEnd, reportPark, reportSuspend } from "./_run_end.ts";
import { afterMicrotasks, nextMacrotask } from "./_tick.ts";
import { TimedWaits } from "./_timed_waits.ts";
import { RunTrace } from "./_tracing.ts";
import type { Logger } from "./logger.ts";

/** How an execution ended. */
export type Outcome = "completed" | "failed" | "suspended" | "parked" | "abandoned";

const never = new Promise<never>(() => {});

/** Runs one claimed task to its outcome. */
export class Execution {
  readonly abort = new AbortController();
  readonly #history: History;
  /** Set when the code asked for a step its history does not have there (see _mismatch.ts). */
  #parkAsked: StepRef | undefined;
  #parkSignal?: () => void;
  readonly #parkP = new Promise<void>((r) => (this.#parkSignal = r));
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #timed = new TimedWaits();
  #released = false;
  #stopping = false;
  #wakeIdle?: () => void;
  #idle = new Promise<void>((r) => (this.#wakeIdle = r));
  #releasedSignal?: () => void;
  #trace!: RunTrace;
  readonly #releasedP = new Promise<void>((r) => (this.#releasedSignal = r));
  /** Step outputs the workflow went on with, not stored yet. */
  readonly #deferred: DeferredOutputs;

  constructor(
    private readonly rpc: WorkerRpc,
    private readonly task: Task,
    private readonly fn: WorkflowFn,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Sleeps ending this soon (ms) keep the run on this worker (0: never; see _timed_waits.ts). */
    private readonly holdMs = 0,
  ) {
    this.#history = new History(task.steps);
    this.#deferred = new DeferredOutputs({
      rpc,
      send: (send) => this.#send(send),
      release: (reason) => this.release(reason),
      suspending: () => this.#onlyWaits(),
    });
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
      // Every call of the execution (its end's included) is made within the run's span.
      const outcome = await this.#trace.within(() => this.#execute());
      this.#deferred.abandon();
      this.#trace.end(outcome);
      return outcome;
    } catch (err) {
      this.#deferred.abandon();
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
    const ctx = new ContextImpl(this.#host(), this.task, this.rpc.namespace);
    const result = Promise.resolve().then(() => this.#trace.within(() => this.fn(ctx, input))).then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
    let ended;
    for (;;) {
      ended = await Promise.race([
        result,
        this.#idle.then(() => "suspend" as const),
        this.#releasedP.then(() => "released" as const),
        this.#parkP.then(() => "park" as const),
      ]);
      if (ended === "suspend" && !this.#onlyWaits()) {
        // Woken by a check from before this execution woke its held sleeps: not idle now.
        this.#idle = new Promise<void>((r) => (this.#wakeIdle = r));
        continue;
      }
      await this.settled();
      // A new sleep asked for where the history has unasked steps parks like a new step would.
      const sleep = this.#timed.unrecorded[0];
      if (ended === "suspend" && sleep && !this.#history.walked) {
        this.#park({ kind: StepKind.SLEEP, name: sleep.name, occurrence: sleep.occurrence });
      }
      // (A server that holds stores the held-back outputs with the Sleep too.)
      const holdable = !this.#stopping && this.#inflight.size === 0 &&
        this.rpc.carries.stepsWithSleep && this.#timed.holdable(this.now(), this.holdMs);
      if (ended !== "suspend" || this.#parkAsked || this.#released || !holdable) break;
      const held = await this.#hold();
      if (held !== "held") return held;
    }
    const carried = ended === "suspend" && !this.#parkAsked && this.rpc.carries.stepsWithSleep;
    // Whatever comes next, the outputs the workflow went on with are stored first (a completion
    // or a suspension carries them instead).
    if (ended !== "released" && (typeof ended === "string" || this.#stopping) && !carried) {
      await this.#deferred.flush();
    }
    if (this.#released || ended === "released") return "abandoned";
    if (this.#parkAsked || ended === "park") {
      return await reportPark(this.#endHost(), this.#history.unasked(), this.#parkAsked!);
    }
    // Shutting down: a function that failed because its signal was aborted did not fail.
    if (this.#stopping && ended !== "suspend" && "error" in ended) return "abandoned";
    if (ended === "suspend") return await this.#suspend();
    return await this.#finish(ended);
  }

  /** True once the run's end (completion or failure) is being reported: no step starts after. */
  get ending(): boolean {
    return this.#ending;
  }
  #ending = false;

  #finish(ended: { value?: unknown; error?: unknown }): Promise<Outcome> {
    this.#ending = true;
    return reportEnd(this.#endHost(), ended);
  }

  #endHost(): EndHost {
    return {
      rpc: this.rpc,
      task: this.task,
      log: this.log,
      deferred: this.#deferred,
      released: () => this.#released,
      fields: () => this.#fields(),
    };
  }

  /** The fields every log line about this run carries. */
  #fields(): Record<string, unknown> {
    return { workerId: this.rpc.workerId, runId: this.task.runId, type: this.task.workflowType };
  }

  async #suspend(): Promise<Outcome> {
    this.#trace.event("kagzi.suspend", {
      "kagzi.resume_at": (this.#timed.earliest() ?? new Date()).toISOString(),
    });
    const outcome = await reportSuspend(this.#endHost(), this.#timed.request(this.lease, false));
    return outcome === "held" ? "suspended" : outcome;
  }

  /**
   * Keeps the run through its sleeps: a Sleep with `hold` records the new ones (carrying the
   * held-back outputs) and is answered when the earliest is due; the sleeps due by then wake.
   * "held" then; else how the execution ended (a server that does not hold suspended it).
   */
  async #hold(): Promise<"held" | Outcome> {
    const at = this.#timed.earliest()!;
    this.#trace.event("kagzi.hold", { "kagzi.resume_at": at.toISOString() });
    const outcome = await reportSuspend(this.#endHost(), this.#timed.request(this.lease, true));
    if (outcome !== "held") return outcome;
    this.#timed.unrecorded.length = 0;
    this.#idle = new Promise<void>((r) => (this.#wakeIdle = r));
    this.#timed.wake(at);
    this.#checkIdle();
    return "held";
  }

  /** Stops at a replay mismatch: nothing new starts; the execution ends by parking the run. */
  #park(asked: { kind: StepKind; name: string; occurrence: number }): void {
    if (this.#parkAsked || this.#released) return;
    this.#parkAsked = create(StepRefSchema, asked);
    this.#parkSignal!();
  }

  /** A wait made: the run suspends (or is held) when nothing else can make progress. */
  #wait<T>(wait: Promise<T>): Promise<T> {
    this.#checkIdle();
    return wait;
  }

  /** What the context, its waits and its step attempts need of this execution. */
  #host(): ContextHost {
    const track = <T>(p: Promise<T>): Promise<T> => {
      this.#inflight.add(p);
      const done = () => {
        this.#inflight.delete(p);
        this.#checkIdle();
      };
      p.then(done, done);
      return p;
    };
    return {
      gone: () => this.#released || this.#stopping || this.#parkAsked !== undefined,
      released: () => this.#released,
      stopping: () => this.#stopping,
      release: (reason) => this.release(reason),
      next: (kind, name) => this.#history.next(kind, name),
      fresh: (kind, name, occurrence) => this.#fresh({ kind, name, occurrence }),
      track,
      waitUntil: (at) => this.#wait(this.#timed.other(at)),
      sleepUntil: (at) => this.#wait(this.#timed.sleep(at)),
      waitForever: () => this.#wait(this.#timed.forever()),
      now: this.now,
      addSleep: (name, occurrence, wakeUpAt) =>
        this.#timed.unrecorded.push({ name, occurrence, wakeUpAt }),
      streamCursor: (name) => {
        const c = this.task.streams.find((s) => s.name === name);
        return c && { nextOffset: Number(c.nextOffset), closed: c.closed };
      },
      call: (method, req) => this.#report(() => this.rpc.call(method, req)),
      log: this.log,
      workflowType: this.task.workflowType,
      report: (send) => this.#report(send),
      flush: () => this.#deferred.flush(),
      defer: (out, span) => !this.#stopping && !this.#released && this.#deferred.defer(out, span),
      rpc: this.rpc,
      lease: this.lease,
      signal: this.abort.signal,
      trace: this.#trace,
      never,
    };
  }

  /**
   * Before something new (a step attempt, a signal wait, a child) starts: true when the replay
   * has asked for every recorded step, so the new thing follows the history. Otherwise it waits
   * one macrotask, for sibling branches to ask for theirs (their stored outcomes resolve in
   * microtasks), and parks the run if recorded steps are still unasked.
   */
  async #fresh(step: { kind: StepKind; name: string; occurrence: number }): Promise<boolean> {
    if (this.#history.walked) return !this.#parkAsked;
    await nextMacrotask();
    if (this.#parkAsked || this.#released) return false;
    if (this.#history.walked) return true;
    this.#park(step);
    return false;
  }

  /** The run only waits now (a sleep, a signal, a child), with no step in flight. */
  #onlyWaits(): boolean {
    return this.#timed.waits() && this.#inflight.size === 0;
  }

  #checkIdle(): void {
    // Let pending microtasks (other branches starting steps) run before deciding.
    afterMicrotasks(() => {
      if (this.#onlyWaits()) this.#wakeIdle!();
    });
  }

  /**
   * Sends a step's outcome. When the server cannot be reached (or refuses it), the
   * execution is abandoned rather than failing user code: the lease then expires
   * and the run resumes elsewhere from what was stored.
   */
  async #report<R>(send: () => Promise<R | undefined>): Promise<R | undefined> {
    // The run's calls follow the outputs the workflow went on with.
    await this.#deferred.flush();
    return this.#released ? undefined : await this.#send(send);
  }

  async #send<R>(send: () => Promise<R | undefined>): Promise<R | undefined> {
    try {
      const res = await send();
      if (res === undefined && !this.#released) {
        this.log.warn(`run ${this.task.runId} lost its lease; its execution stops`, this.#fields());
        this.release("lease lost");
      }
      return res;
    } catch (err) {
      const why = `could not report to the server: ${(err as Error).message}`;
      if (!this.#released) {
        this.log.warn(`run ${this.task.runId} released: ${why}`, this.#fields());
      }
      this.release(why);
      return undefined;
    }
  }
}
