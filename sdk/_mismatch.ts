/**
 * A run's recorded history as its replay walks it, and how a mismatch is told. A replay must
 * ask for the steps the history recorded, in kind and name; when the code asks for something
 * new while recorded steps are still unasked, the code changed under the run (a step renamed,
 * removed, or moved behind a new one), and going on would run a step the history says ran as
 * something else — a renamed `charge-card` would charge again. The execution then parks the
 * run instead (see `_replay.ts`), naming the step expected and the step asked for.
 *
 * Asking in another order than recorded is no mismatch (each step is found by kind, name and
 * occurrence), nor is ending while recorded steps are unasked (nothing new runs).
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { StepKind, type StepRecord, type StepRef, StepRefSchema } from "@kagzi/proto";

/** The stored steps of a run, each looked up once by the replay. */
export class History {
  readonly #records = new Map<string, StepRecord>();
  readonly #asked = new Set<string>();
  /** How many of each (kind, name) the execution asked for. */
  readonly #counters = new Map<string, number>();

  constructor(steps: readonly StepRecord[]) {
    for (const r of steps) {
      if (r.step) this.#records.set(key(r.step.kind, r.step.name, r.step.occurrence), r);
    }
  }

  /** The next occurrence of a (kind, name) asked for, and its record, if any (taken). */
  next(kind: StepKind, name: string): { occurrence: number; record: StepRecord | undefined } {
    const k = `${kind}:${name}`;
    const occurrence = (this.#counters.get(k) ?? 0) + 1;
    this.#counters.set(k, occurrence);
    return { occurrence, record: this.take(kind, name, occurrence) };
  }

  /** The record of a step, if the history has one; the step counts as asked for. */
  take(kind: StepKind, name: string, occurrence: number): StepRecord | undefined {
    const k = key(kind, name, occurrence);
    const record = this.#records.get(k);
    if (record) this.#asked.add(k);
    return record;
  }

  /** True when the replay asked for every recorded step. */
  get walked(): boolean {
    return this.#asked.size === this.#records.size;
  }

  /** The recorded steps the replay did not ask for, in the order they were recorded. */
  unasked(): StepRef[] {
    const left = [...this.#records].filter(([k]) => !this.#asked.has(k)).map(([, r]) => r);
    left.sort((a, b) => startedMs(a) - startedMs(b));
    return left.map((r) => create(StepRefSchema, r.step));
  }
}

function startedMs(r: StepRecord): number {
  return r.startedAt ? timestampMs(r.startedAt) : 0;
}

function key(kind: StepKind, name: string, occurrence: number): string {
  return `${kind}:${name}#${occurrence}`;
}

const kinds: Record<StepKind, string> = {
  [StepKind.UNSPECIFIED]: "step",
  [StepKind.FUNCTION]: "step",
  [StepKind.SLEEP]: "sleep",
  [StepKind.SIGNAL]: "signal wait",
  [StepKind.CHILD]: "child",
  [StepKind.TOKEN]: "token",
  [StepKind.ANY]: "wait for any",
};

/** A step as people read it: `step "charge-card"`, `sleep "cool-off"#2`. */
export function refText(r: StepRef | undefined): string {
  if (!r) return "nothing";
  return `${kinds[r.kind] ?? "step"} "${r.name}"${r.occurrence > 1 ? `#${r.occurrence}` : ""}`;
}

/** Why a run parked, in one sentence. */
export function describeMismatch(expected: StepRef | undefined, asked: StepRef): string {
  return `its history has ${refText(expected)} where the code now asks for ${refText(asked)} ` +
    "(the code changed under the run); nothing runs until it is resumed (with code that " +
    "matches, or from here accepting the new code) or cancelled";
}
