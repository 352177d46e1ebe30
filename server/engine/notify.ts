/**
 * Wake-ups between the parts of the engine: in-process through an EventTarget,
 * and across server replicas through Postgres LISTEN/NOTIFY when the database
 * supports it. Topics are plain strings such as `work:<namespace>` or
 * `done:<namespace>:<run id>`.
 */
import type { Db } from "../store/db.ts";

const channel = "kagzi_events";

/** Publishes and waits for topics. */
export class Notifier {
  readonly #target = new EventTarget();
  readonly #origin = crypto.randomUUID().slice(0, 8);
  /**
   * Other live servers on this database (kept by the ticker). NOTIFY costs a
   * transaction and serializes commits, so it is sent only when someone listens.
   */
  peers = 0;
  /** Wake-ups due later than this are not timed in-process (periodic work times them later). */
  maxTimerMs = Infinity;
  #unlisten?: () => Promise<void>;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly db: Db, private readonly onError: (err: unknown) => void) {}

  /** Starts listening to other servers' notifications. */
  async start(): Promise<void> {
    if (!this.db.crossProcessNotify) return;
    this.#unlisten = await this.db.listen(channel, (payload) => {
      const tab = payload.indexOf("\t");
      if (tab < 0 || payload.slice(0, tab) === this.#origin) return;
      this.#emit(payload.slice(tab + 1));
    });
  }

  /** Wakes local waiters at once and other servers through NOTIFY. */
  publish(topic: string): void {
    this.#emit(topic);
    if (this.db.crossProcessNotify && this.peers > 0) {
      this.db.notify(channel, `${this.#origin}\t${topic}`).catch(this.onError);
    }
  }

  /** Publishes `topic` locally at `at` (used for wake-ups due soon). */
  publishAt(topic: string, at: Date): void {
    const delay = at.getTime() - Date.now();
    if (delay <= 0) return this.#emit(topic);
    if (delay > this.maxTimerMs) return;
    const id = setTimeout(() => {
      this.#timers.delete(id);
      this.#emit(topic);
    }, delay);
    this.#timers.add(id);
  }

  /** Resolves true when `topic` is published, false after `timeoutMs` or on abort. */
  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve(false);
      const done = (woken: boolean) => {
        clearTimeout(timer);
        this.#target.removeEventListener(topic, onTopic);
        signal?.removeEventListener("abort", onAbort);
        resolve(woken);
      };
      const onTopic = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.#target.addEventListener(topic, onTopic);
      signal?.addEventListener("abort", onAbort);
    });
  }

  #emit(topic: string): void {
    this.#target.dispatchEvent(new Event(topic));
  }

  async close(): Promise<void> {
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    await this.#unlisten?.().catch(() => {});
  }
}

/** Topic of new or newly due work in a namespace. */
export const workTopic = (namespace: string): string => `work:${namespace}`;
/** Topic of a run reaching a terminal state. */
export const doneTopic = (namespace: string, runId: string): string => `done:${namespace}:${runId}`;
