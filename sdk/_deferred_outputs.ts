/**
 * Step outputs that travel with the run's completion. A step's value is handed to the workflow
 * at once and its output held back; before anything else of the run happens — another step's
 * function runs, any other call about the run is sent, the run suspends, parks or winds down —
 * the held-back outputs are stored first, and at the latest after one macrotask (two when the
 * run is about to suspend). When the workflow returns first, they go in its CompleteWorkflow
 * (`steps`) and are stored in the completion's commit; when it goes to a durable sleep, in its
 * Sleep (`steps`), in the suspension's commit (a signal wait's or a child's own call stores them
 * first): a step followed by the run's return or its sleep costs one commit and one call less,
 * while no step starts, and nothing of the run is seen outside it, before the outputs it follows
 * are stored. (Temporal records local activities' results with the workflow task's completion in
 * the same way.)
 *
 * Only a server that says so at Register (`steps_with_completion`, `steps_with_sleep`) is sent
 * such calls, and only small outputs are held back (together at most
 * {@linkcode maxDeferredBytes}).
 */
import type { Req, WorkerRpc } from "./_rpc.ts";
import { permanentRefusal } from "./_step_attempt.ts";
import { afterMicrotasks } from "./_tick.ts";
import type { OutputSpan } from "./_tracing.ts";

/** A step output held back. */
export type HeldOutput = Req<"completeStep">;

/** The most output bytes held back at once (the rest is stored at once). */
export const maxDeferredBytes = 64 * 1024;
/** The most outputs held back at once (a completion carries at most 100). */
const maxDeferred = 100;

/** What the held-back outputs need of their execution. */
export interface DeferHost {
  readonly rpc: WorkerRpc;
  /** Sends a call about the run; undefined (and the execution released) when it was not made. */
  send<R>(send: () => Promise<R | undefined>): Promise<R | undefined>;
  /** Stops the execution without reporting anything more. */
  release(reason: string): void;
  /** The run only waits now (a sleep, a signal, a child): it is about to suspend. */
  suspending(): boolean;
}

/** The step outputs of one execution not stored yet. */
export class DeferredOutputs {
  #pending: HeldOutput[] = [];
  /** The spans of held-back outputs not stored yet (carried ones included, until stored). */
  #spans = new Map<HeldOutput, OutputSpan>();
  #flushing: Promise<void> | undefined;
  /** A store after the pending microtasks is asked for (one per batch held back). */
  #armed = false;

  constructor(private readonly host: DeferHost) {}

  /** Holds `out` back (true), or false: store it now, as without this. */
  defer(out: HeldOutput, span?: OutputSpan): boolean {
    if (
      !this.host.rpc.carries.stepsWithCompletion || this.#pending.length >= maxDeferred ||
      [...this.#pending, out].reduce((n, o) => n + size(o), 0) > maxDeferredBytes
    ) return false;
    this.#pending.push(out);
    if (span) this.#spans.set(out, span);
    this.#arm();
    return true;
  }

  /**
   * Stores the held-back outputs after the pending microtasks, unless the run is about to
   * suspend and its Sleep can carry them: then they wait one macrotask more (the execution
   * takes them for its Sleep meanwhile, or they are stored then).
   */
  #arm(waited = false): void {
    if (this.#armed) return;
    this.#armed = true;
    afterMicrotasks(() => {
      this.#armed = false;
      if (!this.#pending.length) return;
      if (!waited && this.host.rpc.carries.stepsWithSleep && this.host.suspending()) {
        this.#arm(true);
      } else void this.flush();
    });
  }

  /** Stores every held-back output (each as its CompleteStep; sent together in a Report). */
  async flush(): Promise<void> {
    while (this.#pending.length || this.#flushing) {
      if (!this.#flushing) {
        const batch = this.#take();
        this.#flushing = Promise.all(batch.map((o) => this.#store(o))).then(() => {
          this.#flushing = undefined;
        });
      }
      await this.#flushing;
    }
  }

  /**
   * Takes the held-back outputs to send with the completion or the suspension (after any store
   * in flight); give them back with {@linkcode DeferredOutputs.restore} when the call is refused.
   */
  async carry(): Promise<HeldOutput[]> {
    while (this.#flushing) await this.#flushing;
    return this.#take();
  }

  /** The carried outputs were stored with the call that carried them: their spans end. */
  stored(outs: HeldOutput[]): void {
    for (const out of outs) this.#end(out, true);
  }

  /** The execution ends: the spans of outputs it did not store end as abandoned. */
  abandon(): void {
    for (const out of [...this.#spans.keys()]) this.#end(out, false);
  }

  #end(out: HeldOutput, stored: boolean): void {
    const span = this.#spans.get(out);
    this.#spans.delete(out);
    span?.end(stored);
  }

  /** Puts outputs back: the completion that carried them was refused. */
  restore(outs: HeldOutput[]): void {
    this.#pending.unshift(...outs);
  }

  #take(): HeldOutput[] {
    return this.#pending.splice(0);
  }

  async #store(out: HeldOutput): Promise<void> {
    const name = out.step?.name ?? "";
    let refused: string | undefined;
    const span = this.#spans.get(out);
    const call = () => this.host.rpc.call("completeStep", out);
    const res = await this.host.send(() =>
      (span ? span.within(call) : call()).catch((err) => {
        refused = permanentRefusal(err);
        if (!refused) throw err;
        return null;
      })
    );
    this.#end(out, !!res && sameOutput(res, out));
    if (res === undefined) return;
    // The workflow went on with this output: refused (which the SDK's own checks rule out),
    // the execution stops and the run resumes from what is stored.
    if (res === null) this.host.release(`the output of step "${name}" was refused: ${refused}`);
    else if (res.paused) this.host.release("the run was paused");
    else if (!sameOutput(res, out)) this.host.release(`step "${name}" has another output stored`);
  }
}

/** Whether what the server stored for the step is `out`'s output (or it stored `out`). */
function sameOutput(res: { record?: { output?: { data: Uint8Array } } }, out: HeldOutput): boolean {
  const stored = res.record?.output;
  return !stored || sameBytes(stored.data, out.output?.data ?? new Uint8Array());
}

function size(out: HeldOutput): number {
  return out.output?.data?.byteLength ?? 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
