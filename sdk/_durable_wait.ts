/**
 * A durable wait described before it is awaited. `ctx.waitForSignal`, `ctx.sleep`, a token's
 * `wait()` and a child's result return a {@linkcode DurableWait}: a promise that starts waiting
 * only when it is first awaited (`then`), and that `ctx.any` can take instead — reading what it
 * waits for ({@linkcode WaitSpec}) and racing it on the server, so a branch that loses never
 * took anything (a signal it did not win stays in the mailbox). Which use of a name it is (its
 * occurrence) is fixed when it is made, so replays number it the same either way.
 */
import type { StepKind, StepRecord } from "@kagzi/proto";
import { KagziError } from "./errors.ts";

/** What `ctx.any` needs of a wait to race it durably. */
export interface WaitSpec<T> {
  /** SIGNAL, TOKEN, CHILD or SLEEP. */
  kind: StepKind;
  name: string;
  occurrence: number;
  /** SLEEP: when it wakes; SIGNAL: when the wait times out. */
  deadline?: Date;
  /** A problem found when the wait was made (a bad duration), rejected by whoever awaits it. */
  problem?: unknown;
  /**
   * Makes what the branch waits on exist before the race (a child's start); false when the
   * execution stops (released, parked).
   */
  prepare?(): Promise<boolean>;
  /** The branch's own outcome from a record of its kind: the value, or a rejection. */
  settle(rec: StepRecord): Promise<T>;
}

/** The outcome of `ctx.any`: the key of the branch that won and its value. */
export interface AnyOutcome {
  key: string;
  value?: unknown;
}

/** A wait that starts when first awaited, or is raced by `ctx.any`. */
export class DurableWait<T> implements Promise<T> {
  readonly #spec: WaitSpec<T>;
  readonly #run: () => Promise<T>;
  #promise: Promise<T> | undefined;
  #owner: { key: string; race: Promise<AnyOutcome> } | undefined;

  /** A wait described by `spec` that, awaited alone, runs `run`. */
  constructor(spec: WaitSpec<T>, run: () => Promise<T>) {
    this.#spec = spec;
    this.#run = run;
  }

  /** Hands the wait to a race as branch `key`; a problem text when it cannot be. */
  claim(key: string): WaitSpec<T> | string {
    if (this.#owner) return `branch "${key}" is already raced by another ctx.any()`;
    if (this.#promise) return `branch "${key}" was awaited before ctx.any() received it`;
    return this.#spec;
  }

  /** Ties the wait to the race it is branch `key` of: awaiting it gives that branch's part. */
  adopt(key: string, race: Promise<AnyOutcome>): void {
    this.#owner = { key, race };
  }

  #start(): Promise<T> {
    if (this.#promise) return this.#promise;
    const owner = this.#owner;
    if (!owner) return this.#promise = this.#run();
    return this.#promise = owner.race.then((r) => {
      if (r.key === owner.key) return r.value as T;
      throw new KagziError(
        "PRECONDITION_FAILED",
        `This wait lost ctx.any() to branch "${r.key}" and was abandoned`,
        { subject: "any", subjectId: owner.key, nonRetryable: true },
      );
    });
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    // deno-lint-ignore no-explicit-any
    onrejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#start().then(onfulfilled, onrejected);
  }

  // deno-lint-ignore no-explicit-any
  catch<R = never>(onrejected?: ((reason: any) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#start().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#start().finally(onfinally);
  }

  get [Symbol.toStringTag](): string {
    return "DurableWait";
  }
}
