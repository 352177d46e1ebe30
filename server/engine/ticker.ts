/**
 * The ticker: once per interval it recovers expired leases, wakes due sleepers
 * and retries, fails runs past their deadline and marks silent workers OFFLINE.
 * Every statement is safe to run from several servers at once (SKIP LOCKED or
 * idempotent updates). Between ticks, wake-ups due sooner are timed in-process.
 */
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics.ts";
import type { Db } from "../store/db.ts";
import * as queue from "../store/queue.ts";
import { sweepIdleBuckets } from "../store/rate_buckets.ts";
import * as servers from "../store/servers.ts";
import * as workers from "../store/workers.ts";
import { doneTopic, type Notifier, workTopic } from "./notify.ts";

/** Heartbeat intervals of silence after which a worker is marked OFFLINE. */
export const offlineAfterBeats = 6;

/** Options of {@linkcode startTicker}. */
export interface TickerOptions {
  intervalMs: number;
  heartbeatIntervalMs: number;
  /** Told about runs the ticker ends (deadlines). */
  metrics?: ServerMetrics;
}

/** A running ticker. */
export interface Ticker {
  /** Ticks now (after a tick in progress) and resolves when done. */
  tickNow(): Promise<void>;
  /** Stops ticking and waits for a tick in progress. */
  stop(): Promise<void>;
}

/** Starts ticking. */
export function startTicker(
  db: Db,
  notifier: Notifier,
  log: Logger,
  options: TickerOptions,
): Ticker {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const serverId = crypto.randomUUID();
  // One transaction per tick: a single commit, however many statements.
  const tick = async () => {
    const out = await db.transaction(async (tx) => ({
      recovered: await queue.recoverExpiredLeases(tx),
      woken: await queue.wakeDueRuns(tx),
      soon: await queue.nextDue(tx, options.intervalMs * 2),
      overdue: await queue.failOverdueRuns(tx),
      // Rate buckets idle for a minute act as no row (store/rate_buckets.ts): drop them.
      idleBuckets: await sweepIdleBuckets(tx, 60_000, 500),
      offline: await workers.markSilentWorkersOffline(
        tx,
        options.heartbeatIntervalMs * offlineAfterBeats,
      ),
      peers: await servers.touchServer(
        tx,
        serverId,
        options.intervalMs * 3,
        options.intervalMs * 60,
      ),
    }));
    notifier.peers = out.peers;
    for (const ns of new Set([...out.recovered, ...out.woken])) notifier.publish(workTopic(ns));
    for (const due of out.soon) notifier.publishAt(workTopic(due.namespace_id), due.at);
    for (const r of out.overdue) {
      notifier.publish(doneTopic(r.namespace_id, r.run_id));
      options.metrics?.runFinished(r.namespace_id, r.workflow_type, "failed", r.duration_s);
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(tick).catch((err) => log.warn("ticker failed", err));
  }, options.intervalMs);
  // Announce this server at once, so peers notify it from their next tick on.
  running = tick().catch((err) => log.warn("ticker failed", err));
  return {
    tickNow: () => {
      running = running.then(tick).catch((err) => log.warn("ticker failed", err));
      return running;
    },
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
      await servers.removeServer(db, serverId).catch(() => {});
    },
  };
}
