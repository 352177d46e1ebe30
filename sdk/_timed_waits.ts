/**
 * The timed waits of one execution: its sleeps, and the waits only the server can end (a
 * scheduled step retry, a signal's or a token's timeout, a race). The run suspends until the
 * earliest of them — or, when it only sleeps and the earliest sleep ends soon, the worker keeps
 * it: a Sleep with `hold` records the sleeps, the run stays with this worker, and the server
 * answers when the run is due (and still held: not cancelled or paused meanwhile); the execution
 * then wakes the sleeps due by then and goes on, without a suspension, a claim or a replay.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { StepKind } from "@kagzi/proto";
import type { Req } from "./_rpc.ts";

const never = new Promise<never>(() => {});

/** A new durable sleep, recorded with the run's next Sleep. */
export interface NewSleep {
  name: string;
  occurrence: number;
  wakeUpAt: Date;
}

/** A sleep the execution itself can end while it holds the run. */
interface Sleeper {
  at: Date;
  wake: () => void;
}

/** The timed waits of one execution. */
export class TimedWaits {
  /** Sleeps not recorded yet. */
  readonly unrecorded: NewSleep[] = [];
  readonly #sleepers: Sleeper[] = [];
  /** The earliest wait only the server ends (a retry, a timeout, a race). */
  #other: Date | undefined;
  /** Something waits with no time limit (a signal, a child run): the server wakes the run. */
  #forever = false;

  /** A sleep until `at`: settles when the execution holding the run wakes it. */
  sleep(at: Date): Promise<void> {
    return new Promise<void>((wake) => this.#sleepers.push({ at, wake }));
  }

  /** A wait until `at` that only a suspension ends (the replay then finds it due). */
  other(at: Date): Promise<never> {
    if (!this.#other || at < this.#other) this.#other = at;
    return never;
  }

  /** A wait only a signal's arrival or a child's end ends. */
  forever(): Promise<never> {
    this.#forever = true;
    return never;
  }

  /** Something is waited for. */
  waits(): boolean {
    return this.#forever || !!this.earliest();
  }

  /** When the run should resume: the earliest wait, if any. */
  earliest(): Date | undefined {
    let at = this.#other;
    for (const s of this.#sleepers) if (!at || s.at < at) at = s.at;
    return at;
  }

  /** Only sleeps are waited for (no retry, timeout or race), and some are. */
  onlySleeps(): boolean {
    return !this.#other && !this.#forever && this.#sleepers.length > 0;
  }

  /** The run only sleeps, and its earliest sleep ends within `holdMs` of `now`: hold it. */
  holdable(now: number, holdMs: number): boolean {
    const at = this.earliest();
    return holdMs > 0 && this.onlySleeps() && !!at && at.getTime() - now <= holdMs;
  }

  /** The Sleep that records the new sleeps and suspends (or, `hold`, keeps) the run. */
  request(lease: { runId: string; fence: bigint }, hold: boolean): Omit<Req<"sleep">, "steps"> {
    const resumeAt = this.earliest();
    return {
      lease,
      sleeps: this.unrecorded.map((s) => ({
        step: { kind: StepKind.SLEEP, name: s.name, occurrence: s.occurrence },
        wakeUpAt: timestampFromDate(s.wakeUpAt),
      })),
      resumeAt: resumeAt && timestampFromDate(resumeAt),
      hold,
    };
  }

  /** Wakes every sleep due by `at` (the run's resume time). */
  wake(at: Date): void {
    const due = this.#sleepers.filter((s) => s.at <= at);
    for (const s of due) this.#sleepers.splice(this.#sleepers.indexOf(s), 1);
    for (const s of due) s.wake();
  }
}
