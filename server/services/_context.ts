import type { ServerConfig } from "../config.ts";
import type { Clock } from "../engine/clock.ts";
import type { Notifier } from "../engine/notify.ts";
import type { Dispatcher } from "../engine/dispatch.ts";
import type { DeadWorkers } from "../engine/dead_workers.ts";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics.ts";
import type { Db } from "../store/db.ts";
import type { DbHealth } from "../store/health.ts";
import type { FlowCache } from "./_flow_cache.ts";
import type { OpenRuns } from "./_open_runs.ts";
import type { TokenSigner } from "./_token_urls.ts";

/** What every service handler needs. */
export interface ServiceContext {
  db: Db;
  notifier: Notifier;
  /** The waiting polls: starts hand them runs, due runs wake one of them. */
  dispatch: Dispatcher;
  config: ServerConfig;
  log: Logger;
  /** "postgres" or "embedded". */
  database: string;
  /** Counters and histograms of what happens (a no-op when metrics are off). */
  metrics: ServerMetrics;
  /** The database's health, probed with a bound (HealthCheck, /readyz). */
  health: DbHealth;
  /** Notices workers whose poll connection closed (absent in serverless mode: no timers). */
  deadWorkers?: DeadWorkers;
  /** Engine time: due times of sleeps, retries, timeouts, deadlines and schedules. */
  clock: Clock;
  /** Signs and verifies token URLs. */
  tokens: TokenSigner;
  /** This server's bulk worker, poked when a bulk operation starts (absent in serverless mode). */
  bulk?: { poke(): void };
  /** Runs known to be open, so a result wait need not read them (`_open_runs.ts`). */
  openRuns: OpenRuns;
  /** Flow control of workflow types, read by starts (absent: none is applied). */
  flowCache?: FlowCache;
}
