/**
 * Wake-ups between the parts of the engine: in-process through an EventTarget,
 * and across server replicas through Postgres LISTEN/NOTIFY when the database
 * supports it. Topics are plain strings such as `work:<namespace>` or
 * `done:<namespace>:<run id>`.
 */
import type { Db } from "../store/db.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { RunRow } from "../store/runs.ts";

/** The detail of a done topic published where the run completed: its output (and row). */
export interface RunEnded {
  /** The ended run, without payloads, when the statement that ended it returned it. */
  row?: RunRow;
  output: Uint8Array;
  outputMetadata: Record<string, string>;
}

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
  /** Told of every `work:` topic published here or by another server (the dispatcher). */
  onWork?: (namespace: string) => void;
  /** Told when the LISTEN session came back after it was lost (notifications were missed). */
  onReconnect?: () => void;
  /** Topics someone waits for, with their number of waiters. */
  #waiting = new Map<string, number>();
  /** Callbacks of {@linkcode Notifier.watchDone}. */
  #doneWatchers = new Set<(topic: string | undefined) => void>();
  /** Callbacks of {@linkcode Notifier.watch}, by topic. */
  #watchers = new Map<string, Set<(topic: string, detail?: unknown) => void>>();
  #unlisten?: () => Promise<void>;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly db: Db,
    private readonly onError: (err: unknown) => void,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Starts listening to other servers' notifications. */
  async start(): Promise<void> {
    if (!this.db.crossProcessNotify) return;
    this.#unlisten = await this.db.listen(channel, (payload) => {
      const tab = payload.indexOf("\t");
      if (tab < 0 || payload.slice(0, tab) === this.#origin) return;
      this.#emit(payload.slice(tab + 1));
    }, () => this.#reconnected());
  }

  /** Wakes every waiter to read again what it waits for: its notification may have been lost. */
  #reconnected(): void {
    for (const f of this.#doneWatchers) f(undefined);
    for (const topic of [...this.#waiting.keys()]) this.#emit(topic);
    this.onReconnect?.();
  }

  /**
   * Wakes local waiters at once and other servers through NOTIFY. `detail` reaches local
   * waiters only (see {@linkcode Notifier.next}); other servers' waiters read what they need.
   */
  publish(topic: string, detail?: unknown): void {
    this.#emit(topic, detail);
    this.announce(topic);
  }

  /** Tells other servers only (this one was told another way). */
  announce(topic: string): void {
    if (this.db.crossProcessNotify && this.peers > 0) {
      this.db.notify(channel, `${this.#origin}\t${topic}`).catch(this.onError);
    }
  }

  /** Publishes `topic` locally at `at` (used for wake-ups due soon). */
  publishAt(topic: string, at: Date): void {
    const delay = at.getTime() - this.clock.now();
    if (delay <= 0) return this.#emit(topic);
    // Past setTimeout's 32-bit limit it would fire at once; the ticker times it when nearer.
    if (delay > Math.min(this.maxTimerMs, 2 ** 31 - 1)) return;
    const id = setTimeout(() => {
      this.#timers.delete(id);
      this.#emit(topic);
    }, delay);
    this.#timers.add(id);
  }

  /** Resolves true when `topic` is published, false after `timeoutMs` or on abort. */
  async wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return (await this.next(topic, timeoutMs, signal)).woken;
  }

  /** Like {@linkcode Notifier.wait}, with the `detail` a local publisher passed. */
  next(
    topic: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ woken: boolean; detail?: unknown }> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve({ woken: false });
      const done = (woken: boolean, detail?: unknown) => {
        clearTimeout(timer);
        const n = (this.#waiting.get(topic) ?? 1) - 1;
        if (n > 0) this.#waiting.set(topic, n);
        else this.#waiting.delete(topic);
        this.#target.removeEventListener(topic, onTopic);
        signal?.removeEventListener("abort", onAbort);
        resolve({ woken, detail });
      };
      const onTopic = (e: unknown) => done(true, (e as { detail?: unknown }).detail);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.#target.addEventListener(topic, onTopic);
      this.#waiting.set(topic, (this.#waiting.get(topic) ?? 0) + 1);
      signal?.addEventListener("abort", onAbort);
    });
  }

  /**
   * Calls `onTopic` each time one of `topics` is published (with a local publisher's detail)
   * until the returned function is called: one subscription for many topics, e.g. the ends of
   * a thousand runs awaited by one WaitRuns.
   */
  watch(topics: string[], onTopic: (topic: string, detail?: unknown) => void): () => void {
    for (const t of topics) {
      let set = this.#watchers.get(t);
      if (!set) this.#watchers.set(t, set = new Set());
      set.add(onTopic);
      this.#waiting.set(t, (this.#waiting.get(t) ?? 0) + 1);
    }
    return () => {
      for (const t of topics) {
        const set = this.#watchers.get(t);
        if (set?.delete(onTopic) && set.size === 0) this.#watchers.delete(t);
        const n = (this.#waiting.get(t) ?? 1) - 1;
        if (n > 0) this.#waiting.set(t, n);
        else this.#waiting.delete(t);
      }
    };
  }

  /**
   * Calls `fn(topic)` for every done topic published here or by another server, and
   * `fn(undefined)` when the LISTEN session came back (notifications meanwhile were missed).
   */
  watchDone(fn: (topic: string | undefined) => void): () => void {
    this.#doneWatchers.add(fn);
    return () => this.#doneWatchers.delete(fn);
  }

  #emit(topic: string, detail?: unknown): void {
    if (this.onWork && topic.startsWith("work:")) this.onWork(topic.slice(5));
    if (this.#doneWatchers.size && topic.startsWith("done:")) {
      for (const f of this.#doneWatchers) f(topic);
    }
    const watchers = this.#watchers.get(topic);
    if (watchers) { for (const w of [...watchers]) w(topic, detail); }
    this.#target.dispatchEvent(new CustomEvent(topic, { detail }));
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
/** Topic of new values (or the close) of a run's stream. */
export const streamTopic = (namespace: string, runId: string, name: string): string =>
  `stream:${namespace}:${runId}:${name}`;
