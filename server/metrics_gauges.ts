/**
 * The gauges of `/metrics` that need a database read: queue backlog and age, workers by
 * health, due runs no online worker serves, parked runs. One read feeds them all and is reused
 * for `gaugeTtlMs`, however often and by however many scrapers the server is scraped; a label
 * set seen once stays (at 0) when it empties, rather than vanishing.
 */
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "./log.ts";
import type { Queryable } from "./store/db.ts";
import * as stats from "./store/stats.ts";

/** What the gauges read from. */
export interface GaugeOptions {
  db: Queryable;
  log: Logger;
  heartbeatIntervalMs: number;
  /** How long values read from the database are reused. @default 5000 */
  gaugeTtlMs?: number;
}

type Labels = Record<string, string>;
/** One gauge's values from one read: label sets and numbers. */
type Values = [Labels, number][];

const runLabels = ["namespace", "workflow_type"] as const;
const byType = (rows: { namespace_id: string; workflow_type: string }[], n: (r: never) => number) =>
  rows.map((r): [Labels, number] => [
    { namespace: r.namespace_id, workflow_type: r.workflow_type },
    n(r as never),
  ]);

/** Registers the database-backed gauges in `registers`. */
export function createGauges(registers: Registry[], options: GaugeOptions): void {
  const ttl = options.gaugeTtlMs ?? 5_000;
  const defs = {
    backlog: ["kagzi_queue_backlog", "Runs due and waiting for a worker.", runLabels],
    oldest: [
      "kagzi_queue_oldest_age_seconds",
      "How long the oldest due run has waited for a worker.",
      runLabels,
    ],
    workers: [
      "kagzi_workers",
      "Workers that are not offline, by health from their heartbeats.",
      ["namespace", "health"],
    ],
    unserved: [
      "kagzi_runs_unserved",
      "Due runs whose workflow type and version no online worker serves: nothing will claim " +
      "them until one registers.",
      runLabels,
    ],
    parked: [
      "kagzi_runs_parked",
      "Runs PARKED on a replay mismatch (their code changed under them), waiting for an " +
      "operator to resume or cancel them.",
      runLabels,
    ],
  } as const;
  type Name = keyof typeof defs;
  let last = -Infinity;
  let running: Promise<void> | undefined;
  const refresh = () => {
    if (Date.now() - last < ttl) return Promise.resolve();
    running ??= read().finally(() => (running = undefined));
    return running;
  };
  const gauges = Object.fromEntries(
    Object.entries(defs).map(([k, [name, help, labelNames]]) => [
      k,
      new Gauge({ name, help, labelNames: [...labelNames], registers, collect: refresh }),
    ]),
  ) as Record<Name, Gauge>;
  const seen = Object.fromEntries(Object.keys(defs).map((k) => [k, new Set<string>()])) as Record<
    Name,
    Set<string>
  >;

  const read = async () => {
    try {
      const [queues, health, unserved, parked] = await Promise.all([
        stats.queueBacklog(options.db),
        stats.workerHealth(options.db, options.heartbeatIntervalMs),
        stats.unservedRuns(options.db),
        stats.parkedRuns(options.db),
      ]);
      const values: Record<Name, Values> = {
        backlog: byType(queues, (q: stats.BacklogRow) => q.backlog),
        oldest: byType(queues, (q: stats.BacklogRow) => q.oldest_s),
        workers: health.map((w) => [{ namespace: w.namespace_id, health: w.health }, w.workers]),
        unserved: byType(unserved, (r: stats.RunCountRow) => r.runs),
        parked: byType(parked, (r: stats.RunCountRow) => r.runs),
      };
      for (const name of Object.keys(defs) as Name[]) {
        const g = gauges[name];
        g.reset();
        for (const key of seen[name]) g.set(JSON.parse(key), 0);
        for (const [labels, n] of values[name]) {
          seen[name].add(JSON.stringify(labels));
          g.set(labels, n);
        }
      }
      last = Date.now();
    } catch (err) {
      // Keep the previous values; try again on the next scrape.
      options.log.warn(
        "metrics: reading the queue, worker, unserved and parked gauges failed",
        err,
      );
    }
  };
}
