/**
 * The result waits of one client, multiplexed: every pending `result()` of a namespace shares a
 * few WaitRuns long polls (up to 500 run ids each, at most 4 in flight) instead of a request per
 * run. A WaitRuns answers as soon as one of its runs ends; the runs still open go back into the
 * next call with those added meanwhile. Passing faults are waited out with backoff for as long
 * as anyone waits (each wait ends at its own timeout or abort); a server without WaitRuns gets
 * one GetWorkflow long poll per run, as before. A timeout bounds the wait for the run to end: one
 * that passes before any answer about the run arrived asks the server once more, without waiting
 * (`_result_peek.ts`), so a run that had already ended gives its outcome whatever the timeout.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { retryDelay, sleep } from "../_backoff.ts";
import { KagziError } from "../errors.ts";
import type { Services } from "./_services.ts";
import { isEndStatus, isPermanent, type Outcome, RunPeeks } from "./_result_peek.ts";

/** The most run ids in one WaitRuns (the server takes up to 1,000). */
const maxBatch = 500;
/** WaitRuns in flight per namespace. */
const maxCalls = 4;
/** How long one WaitRuns waits when none of its runs ends. */
const callMs = 30_000;
/**
 * Runs added while every call is in flight wait this long for one to answer; then the
 * youngest call is cut short and asked again with them (a quiet set of long runs would
 * otherwise hold them up to `callMs`).
 */
const graceMs = 20;

interface Waiter {
  settle(outcome: Outcome): void;
  fail(err: unknown): void;
  /** Set once an answer said the run was still open (after this waiter was added). */
  answered?: boolean;
  /** Set by a GetWorkflow wait, told when the waiter settled otherwise (timeout, abort). */
  onEnd?: () => void;
}

interface Call {
  ids: string[];
  abort: AbortController;
}

/** The pending waits of one namespace. */
class NamespaceWaits {
  readonly #waiters = new Map<string, Set<Waiter>>();
  /** Runs waited for that no call in flight names. */
  readonly #queued = new Set<string>();
  readonly #calls = new Set<Call>();
  #failures = 0;
  #retryAt = 0;
  #retryTimer?: ReturnType<typeof setTimeout>;
  #graceTimer?: ReturnType<typeof setTimeout>;
  #legacy = false;
  /** Asks whether runs ended, without waiting (for timeouts that passed before any answer). */
  readonly peeks: RunPeeks;

  constructor(private readonly services: Services, private readonly namespace: string) {
    this.peeks = new RunPeeks(services, namespace, () => this.#legacy);
  }

  /** Adds a waiter for run `id`; returns its removal. */
  add(id: string, w: Waiter): () => void {
    if (this.#legacy) {
      void this.#legacyWait(id, w);
      return () => {};
    }
    let set = this.#waiters.get(id);
    if (!set) {
      this.#waiters.set(id, set = new Set());
      this.#queued.add(id);
      // Waits added in the same tick share the call.
      queueMicrotask(() => this.#pump());
    }
    set.add(w);
    return () => {
      if (!set.delete(w) || set.size > 0) return;
      this.#waiters.delete(id);
      this.#queued.delete(id);
      // A call nobody waits on any more is cut short.
      for (const c of this.#calls) {
        if (c.ids.every((i) => !this.#waiters.has(i))) c.abort.abort();
      }
    };
  }

  #pump(): void {
    if (this.#retryTimer !== undefined) return;
    const wait = this.#retryAt - Date.now();
    if (wait > 0) {
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, wait);
      return;
    }
    while (this.#queued.size && this.#calls.size < maxCalls) {
      const ids: string[] = [];
      for (const id of this.#queued) {
        ids.push(id);
        this.#queued.delete(id);
        if (ids.length >= maxBatch) break;
      }
      this.#send(ids);
    }
    if (this.#queued.size && this.#graceTimer === undefined) {
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = undefined;
        if (this.#queued.size && this.#calls.size >= maxCalls) {
          // The youngest call is asked again together with the runs waiting.
          [...this.#calls].at(-1)?.abort.abort();
        } else this.#pump();
      }, graceMs);
    }
  }

  #send(ids: string[]): void {
    const call: Call = { ids, abort: new AbortController() };
    this.#calls.add(call);
    this.services.workflows.waitRuns({
      namespace: this.namespace,
      runIds: ids,
      timeout: durationFromMs(callMs),
    }, { signal: call.abort.signal, timeoutMs: callMs + 10_000 }).then((res) => {
      this.#failures = 0;
      for (const o of res.ended) this.#deliver(o.runId, o);
      // The runs not named are open as of this answer: their waits had their first answer.
      for (const id of ids) for (const w of this.#waiters.get(id) ?? []) w.answered = true;
    }, (err) => {
      if (call.abort.signal.aborted) return;
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
        return this.#toLegacy();
      }
      const e = KagziError.from(err);
      if (isPermanent(e.code)) {
        for (const id of ids) this.#fail(id, e);
        return;
      }
      this.#retryAt = Date.now() + retryDelay(this.#failures++, e);
    }).finally(() => {
      this.#calls.delete(call);
      for (const id of ids) if (this.#waiters.has(id) && !this.#legacy) this.#queued.add(id);
      this.#pump();
    });
  }

  #deliver(id: string, o: Outcome): void {
    const set = this.#waiters.get(id);
    this.#waiters.delete(id);
    this.#queued.delete(id);
    for (const w of set ?? []) w.settle(o);
  }

  #fail(id: string, err: unknown): void {
    const set = this.#waiters.get(id);
    this.#waiters.delete(id);
    this.#queued.delete(id);
    for (const w of set ?? []) w.fail(err);
  }

  /** The server has no WaitRuns: every wait becomes its own GetWorkflow long poll. */
  #toLegacy(): void {
    this.#legacy = true;
    const all = [...this.#waiters];
    this.#waiters.clear();
    this.#queued.clear();
    for (const c of this.#calls) c.abort.abort();
    for (const [id, set] of all) for (const w of set) void this.#legacyWait(id, w);
  }

  /** GetWorkflow long polls until run `id` ends or `w` settled otherwise. */
  async #legacyWait(id: string, w: Waiter): Promise<void> {
    const done = new AbortController();
    const inner: Waiter = {
      settle: (o) => (done.abort(), w.settle(o)),
      fail: (e) => (done.abort(), w.fail(e)),
    };
    w.onEnd = () => done.abort();
    for (let failures = 0; !done.signal.aborted;) {
      try {
        const res = await this.services.workflows.getWorkflow({
          namespace: this.namespace,
          runId: id,
          waitForTerminal: durationFromMs(callMs),
        }, { signal: done.signal, timeoutMs: callMs + 10_000 });
        failures = 0;
        const wf = res.workflow!;
        if (isEndStatus(wf.status)) return inner.settle(wf);
        w.answered = true;
      } catch (err) {
        if (done.signal.aborted) return;
        const e = KagziError.from(err);
        if (isPermanent(e.code)) return inner.fail(e);
        await sleep(retryDelay(failures++, e), done.signal).catch(() => {});
      }
    }
  }
}

/** The result waits of one client (one per `Services`), by namespace. */
export class ResultWaits {
  readonly #byNamespace = new Map<string, NamespaceWaits>();

  constructor(private readonly services: Services) {}

  /**
   * Resolves with how run `id` ended; rejects with a permanent error about the call (an
   * unknown run, a refused key), TIMEOUT when the run has not ended within `timeoutMs`, or the
   * signal's reason. TIMEOUT comes only after an answer said the run was open: when none has
   * arrived when the timeout passes, the server is asked once more (without waiting), so a run
   * that had already ended gives its outcome.
   */
  wait(namespace: string, id: string, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      let ns = this.#byNamespace.get(namespace);
      if (!ns) this.#byNamespace.set(namespace, ns = new NamespaceWaits(this.services, namespace));
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const end = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        remove();
        w.onEnd?.();
      };
      const w: Waiter = {
        settle: (o) => {
          if (settled) return;
          end();
          resolve(o);
        },
        fail: (e) => {
          if (settled) return;
          end();
          reject(e);
        },
      };
      const onAbort = () => w.fail(signal!.reason);
      const remove = ns.add(id, w);
      if (Number.isFinite(timeoutMs)) {
        const timedOut = (cause?: KagziError) =>
          new KagziError(
            "TIMEOUT",
            cause
              ? `Cannot tell whether workflow run ${id} ended within ${timeoutMs} ms: ${cause.message}`
              : `Workflow run ${id} did not end within ${timeoutMs} ms`,
            { subject: "run", subjectId: id, cause },
          );
        timer = setTimeout(() => {
          // Only an answer about the run says it is open; with none yet, the server is asked.
          if (w.answered) return w.fail(timedOut());
          ns.peeks.peek(id).then(
            (o) => o ? w.settle(o) : w.fail(timedOut()),
            (err) => {
              const e = KagziError.from(err);
              w.fail(isPermanent(e.code) ? e : timedOut(e));
            },
          );
        }, Math.max(0, timeoutMs));
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

const perClient = new WeakMap<Services, ResultWaits>();

/** The result waits of the client whose services these are. */
export function resultWaits(services: Services): ResultWaits {
  let w = perClient.get(services);
  if (!w) perClient.set(services, w = new ResultWaits(services));
  return w;
}
