/**
 * Retention: finished runs (COMPLETED, FAILED, CANCELLED) are deleted, with
 * their steps and payloads, once they finished longer ago than their
 * namespace's retention. A background loop wakes every interval (half the
 * shortest retention, between 1 s and 1 min), finds the namespaces with finished
 * runs by a loose index scan and deletes expired runs in batches of a few
 * hundred, each one statement, oldest first. After each full batch it leaves
 * the database to other work for twice as long as the batch took, so a large
 * backlog drains steadily without slowing the hot path. Several servers may
 * sweep at once: rows another server is deleting are skipped (SKIP LOCKED).
 * Records that end on their own without being rows of a run (ended bulk operations)
 * go the same way once they ended longer ago than their namespace's retention, and so do
 * events once they were emitted longer ago than that (`eventRetentionPass`).
 */
import { formatDuration } from "@kagzi/sdk/duration";
import type { Logger } from "../log.ts";
import type { Db } from "../store/db.ts";
import * as store from "../store/retention.ts";
import { deleteExpiredEvents, listEventNamespaces } from "../store/events.ts";

/** Options of {@linkcode startRetention} and {@linkcode retentionPass}. */
export interface RetentionOptions {
  /** How long finished runs are kept, in ms; 0 keeps them forever. */
  defaultMs: number;
  /** Per-namespace retention in ms overriding `defaultMs` (0: forever). */
  byNamespace: Record<string, number>;
  /** Runs deleted per statement. @default 500 */
  batchSize?: number;
}

/** The retention of a namespace in ms; 0 means forever. */
export function retentionOf(namespace: string, options: RetentionOptions): number {
  return options.byNamespace[namespace] ?? options.defaultMs;
}

/** Whether any namespace can have runs deleted at all. */
export function retentionEnabled(options: RetentionOptions): boolean {
  return options.defaultMs > 0 || Object.values(options.byNamespace).some((ms) => ms > 0);
}

/** How often the loop looks: half the shortest retention, from 1 s to 1 min. */
export function retentionIntervalMs(options: RetentionOptions): number {
  const all = [options.defaultMs, ...Object.values(options.byNamespace)].filter((ms) => ms > 0);
  return Math.min(60_000, Math.max(1_000, Math.min(...all) / 2));
}

/**
 * Deletes every run (and ended record) that has expired now, batch by batch; returns how many
 * runs it deleted.
 */
export async function retentionPass(
  db: Db,
  options: RetentionOptions,
  signal?: AbortSignal,
): Promise<number> {
  const batch = options.batchSize ?? 500;
  let total = 0;
  for (const ns of await store.listFinishedNamespaces(db)) {
    const keepMs = retentionOf(ns.namespace_id, options);
    if (keepMs === 0 || ns.oldest_age_ms <= keepMs) continue;
    while (!signal?.aborted) {
      const started = performance.now();
      const deleted = await store.deleteExpiredRuns(db, ns.namespace_id, keepMs, batch);
      total += deleted;
      if (deleted < batch) break;
      await pause(Math.max(10, 2 * (performance.now() - started)), signal);
    }
  }
  await eventRetentionPass(db, options, signal);
  for (const table of store.endedRecordTables) {
    for (const ns of await store.listEndedNamespaces(db, table)) {
      const keepMs = retentionOf(ns.namespace_id, options);
      if (keepMs === 0 || ns.oldest_age_ms <= keepMs) continue;
      while (!signal?.aborted) {
        const deleted = await store.deleteEndedRecords(db, table, ns.namespace_id, keepMs, batch);
        if (deleted < batch) break;
      }
    }
  }
  return total;
}

/**
 * Deletes every event emitted longer ago than its namespace's retention, the oldest of each
 * namespace first by index, batch by batch (the runs it started follow the runs' own
 * retention); returns how many it deleted. `retentionPass` runs it.
 */
export async function eventRetentionPass(
  db: Db,
  options: RetentionOptions,
  signal?: AbortSignal,
): Promise<number> {
  const batch = options.batchSize ?? 500;
  let total = 0;
  for (const ns of await listEventNamespaces(db)) {
    const keepMs = retentionOf(ns, options);
    while (keepMs > 0 && !signal?.aborted) {
      const deleted = await deleteExpiredEvents(db, ns, keepMs, batch);
      total += deleted;
      if (deleted < batch) break;
    }
  }
  return total;
}

/** Starts the retention loop (when retention is enabled); the returned function stops it. */
export function startRetention(
  db: Db,
  log: Logger,
  options: RetentionOptions,
): () => Promise<void> {
  if (!retentionEnabled(options)) return () => Promise.resolve();
  const abort = new AbortController();
  const interval = retentionIntervalMs(options);
  const show = (ms: number) => (ms ? formatDuration(ms) : "never");
  const overrides = Object.entries(options.byNamespace).map(([ns, ms]) => `${ns}: ${show(ms)}`);
  log.info(
    `retention: finished runs are deleted ${show(options.defaultMs)} after they finish` +
      (overrides.length ? ` (${overrides.join(", ")})` : ""),
  );
  const loop = async () => {
    while (!abort.signal.aborted) {
      await pause(interval, abort.signal);
      if (abort.signal.aborted) return;
      try {
        const deleted = await retentionPass(db, options, abort.signal);
        if (deleted) log.info(`retention: deleted ${deleted} finished run(s)`);
      } catch (err) {
        if (!abort.signal.aborted) log.warn("retention pass failed", err);
      }
    }
  };
  const running = loop();
  return async () => {
    abort.abort();
    await running;
  };
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
