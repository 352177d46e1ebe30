/**
 * The server side of the testing kit (`@kagzi/sdk/testing` builds on it): the real server, in
 * this process, on an in-memory embedded database (PGlite) with a virtual clock. Engine time
 * (the server's `clock.now()` and SQL's `now()`) is the real time plus an offset that only moves
 * forward, when the test asks and no run is busy. Everything else (the store, claims, leases,
 * the router and its checks) is the production code.
 *
 * @example Start a test server
 * ```ts ignore
 * import { createTestServer } from "@kagzi/server/testing";
 *
 * const test = await createTestServer();
 * await test.advanceTo(test.now() + 86_400_000, ["order"]); // a day later, if nothing runs
 * await test.close();
 * ```
 *
 * @module
 */
import { defaults, type ServerConfig } from "./config.ts";
import type { Clock } from "./engine/clock.ts";
import { connectPostgres, type Db } from "./store/db.ts";
import { startEmbedded } from "./store/embedded.ts";
import { migrate } from "./store/migrate.ts";
import * as vclock from "./store/virtual_clock.ts";
import { type KagziServer, startServer } from "./start.ts";
import { forgetSnapshot, loadSnapshot, saveSnapshot } from "./testing_snapshot.ts";

export type { KagziServer } from "./start.ts";

/** Options of {@linkcode createTestServer}. */
export interface TestServerOptions {
  /** Server settings over the defaults (the database ones are ignored). @default {} */
  config?: Partial<ServerConfig>;
}

/** A server on an in-memory database with a virtual clock. */
export interface TestServer {
  /** The server: pass it to `Worker.builder()` and `Kagzi.connect()`. */
  readonly server: KagziServer;
  /** Virtual time, in ms since the epoch. */
  now(): number;
  /**
   * Moves virtual time forward to `at` (ms) unless a run is running or due for one of `types`,
   * then runs the engine's periodic work (wakes due runs, fails overdue ones, fires schedules).
   * False when it did not move because a run is busy; true when it moved or `at` is not later.
   */
  advanceTo(at: number, types: string[]): Promise<boolean>;
  /** Whether a run is running, or due now for one of `types`. */
  busy(types: string[]): Promise<boolean>;
  /** The next time a sleep, retry, timeout, deadline or schedule comes due, if any. */
  nextTimer(): Promise<Date | undefined>;
  /** Stops the server and drops the database. */
  close(): Promise<void>;
}

/** The engine's clock: real time plus an offset. */
class VirtualClock implements Clock {
  offsetMs = 0;
  readonly virtual = true;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

/**
 * Starts the server on a fresh in-memory database. The migrated database is kept as a snapshot
 * (in this process, and in the user's cache directory when it can be written), so later starts
 * skip PGlite's initdb and the migrations.
 */
export async function createTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  let snapshot = await loadSnapshot();
  const embedded = await startEmbedded({ memory: { load: snapshot } }).catch(async (err) => {
    if (!snapshot) throw err;
    snapshot = undefined; // unreadable (written by another PGlite?): start from initdb
    await forgetSnapshot();
    return await startEmbedded({ memory: true });
  });
  let db: Db | undefined;
  try {
    db = connectPostgres(embedded.url, { max: 1, crossProcessNotify: false });
    await db.execute(vclock.useVirtualClock);
    if (!snapshot) {
      await db.execute(vclock.installVirtualClock);
      await migrate(db);
      await saveSnapshot(await embedded.dump());
    }
    const clock = new VirtualClock();
    const config: ServerConfig = {
      ...defaults,
      logLevel: "error",
      retentionMs: 0,
      ...options.config,
      databaseUrl: "",
      serverless: false,
    };
    const server = await startServer(config, { clock, db: { db, database: "embedded" } });
    const store = db;
    return {
      server,
      now: () => clock.now(),
      async advanceTo(at, types) {
        const offset = at - Date.now();
        if (offset <= clock.offsetMs) return true;
        if (!(await vclock.advanceClock(store, offset, types))) return false;
        clock.offsetMs = Math.max(clock.offsetMs, offset);
        await server.maintain();
        return true;
      },
      busy: (types) => vclock.hasBusyRuns(store, types),
      nextTimer: () => vclock.nextTimer(store),
      async close() {
        await server.close();
        await store.close().catch(() => {});
        await embedded.close();
      },
    };
  } catch (err) {
    await db?.close().catch(() => {});
    await embedded.close();
    throw err;
  }
}
