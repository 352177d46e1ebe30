/**
 * The engine's periodic work for hosts without long-lived timers (Deno Deploy and other
 * serverless platforms, where timers run only while requests are served). One pass does what the
 * ticker and the scheduler do in a long-running server: recovers expired leases, wakes due
 * sleepers and retries, fails runs past their deadline, marks silent workers OFFLINE, fires due
 * cron schedules, and times in-process the wake-ups due within the next two intervals.
 *
 * Passes are started by the `Deno.cron` job ({@linkcode Maintenance.run}) and by the requests
 * being served ({@linkcode Maintenance.around}): while a long poll or a result wait is open,
 * a pass runs every interval, so a due sleeper is picked up within about an interval while a
 * worker polls. At most one pass per interval per instance and one at a time; passes of many
 * instances at once are safe: one instance at a time makes the writes (transaction-level advisory
 * lock; the others skip them), claims use `SKIP LOCKED`, and schedules are locked row by row.
 */
import type { Logger } from "../log.ts";
import type { Db } from "../store/db.ts";
import * as queue from "../store/queue.ts";
import * as servers from "../store/servers.ts";
import * as workers from "../store/workers.ts";
import { doneTopic, type Notifier, workTopic } from "./notify.ts";
import { firePass, type FireReport, logRefusedFires } from "./scheduler.ts";
import { offlineAfterBeats } from "./ticker.ts";

/** Advisory lock held by the instance making a pass's writes (migrations use 7245100923). */
const writerLock = 7245100924;

/** Options of {@linkcode Maintenance}. */
export interface MaintenanceOptions {
  /** The least time between two passes of one instance, and their period while held. */
  intervalMs: number;
  /** How often workers heartbeat; silent for six of these, a worker is marked OFFLINE. */
  heartbeatIntervalMs: number;
  /** A cron fire time late by less than this counts as on time, not missed. */
  scheduleGraceMs: number;
}

/** Runs maintenance passes on demand; see the module documentation. */
export class Maintenance {
  readonly #serverId = crypto.randomUUID();
  #lastStart = -Infinity;
  #running?: Promise<void>;
  #holders = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #closed = false;

  /** Creates the runner; no pass runs until asked. */
  constructor(
    private readonly db: Db,
    private readonly notifier: Notifier,
    private readonly log: Logger,
    private readonly options: MaintenanceOptions,
  ) {
    // Instances come and go without notice: always tell the others (LISTEN/NOTIFY).
    notifier.peers = Math.max(notifier.peers, 1);
    // No timers that outlive requests: sleeps further out are timed by a later pass.
    notifier.maxTimerMs = options.intervalMs * 2;
  }

  /** Starts a pass unless one ran within the interval; resolves when the current pass ends. */
  poke(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) return this.#running;
    if (Date.now() - this.#lastStart < this.options.intervalMs) return Promise.resolve();
    return this.#start();
  }

  /** Runs a pass now, after the one in progress (the cron job: never skipped by the rate limit). */
  async run(): Promise<void> {
    await this.#running;
    if (!this.#closed) await (this.#running ?? this.#start());
  }

  /** Resolves when no pass is running. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Runs passes every interval until every holder released; returns the release function. */
  hold(): () => void {
    this.#holders++;
    void this.poke();
    this.#schedule();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#holders === 0 && this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /**
   * Runs `fn` (a request being served) inside maintenance: pokes a pass (rate-limited), holds
   * passes every interval while `fn` runs when it may `wait` (a long poll, a result wait), and
   * resolves only once the pass it started has ended (a host may freeze the instance once no
   * request is in flight).
   */
  async around<T>(fn: () => Promise<T>, wait: boolean): Promise<T> {
    const release = wait ? this.hold() : undefined;
    const pass = this.poke();
    try {
      return await fn();
    } finally {
      release?.();
      await pass;
      if (release) await this.settled();
    }
  }

  /** Stops passes, waits for the one running and forgets this instance. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.settled();
    await servers.removeServer(this.db, this.#serverId).catch(() => {});
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#holders === 0 || this.#closed) return;
    const wait = Math.max(0, this.#lastStart + this.options.intervalMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#holders > 0) void this.poke().finally(() => this.#schedule());
    }, wait);
  }

  #start(): Promise<void> {
    this.#lastStart = Date.now();
    const pass: Promise<void> = this.#pass()
      .catch((err) => this.log.warn("maintenance pass failed", err))
      .finally(() => {
        if (this.#running === pass) this.#running = undefined;
      });
    this.#running = pass;
    return pass;
  }

  async #pass(): Promise<void> {
    const { intervalMs, heartbeatIntervalMs, scheduleGraceMs } = this.options;
    const out = await this.db.transaction(async (tx) => {
      // A host may freeze an instance between requests: never let its open transaction
      // hold the lock (and rows) for long.
      await tx.query("set local idle_in_transaction_session_timeout = 10000");
      const [{ writer }] = await tx.query<{ writer: boolean }>(
        "select pg_try_advisory_xact_lock($1) as writer",
        [writerLock],
      );
      await servers.touchServer(tx, this.#serverId, intervalMs * 3, intervalMs * 60);
      if (!writer) {
        return {
          recovered: [],
          woken: [],
          soon: await queue.nextDue(tx, intervalMs * 2),
          overdue: [],
        };
      }
      const recovered = await queue.recoverExpiredLeases(tx);
      const woken = await queue.wakeDueRuns(tx);
      const soon = await queue.nextDue(tx, intervalMs * 2);
      const overdue = await queue.failOverdueRuns(tx);
      await workers.markSilentWorkersOffline(tx, heartbeatIntervalMs * offlineAfterBeats);
      return { recovered, woken, soon, overdue };
    });
    for (const ns of new Set([...out.recovered, ...out.woken])) {
      this.notifier.publish(workTopic(ns));
    }
    for (const due of out.soon) this.notifier.publishAt(workTopic(due.namespace_id), due.at);
    for (const r of out.overdue) this.notifier.publish(doneTopic(r.namespace_id, r.run_id));
    const report: FireReport = { started: [], refused: [] };
    const fired = await firePass(this.db, scheduleGraceMs, report);
    for (const ns of fired) this.notifier.publish(workTopic(ns));
    logRefusedFires(this.log, report);
  }
}
