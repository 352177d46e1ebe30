/**
 * The one narrow database interface all store code uses. postgres.js sits
 * behind it, talking either to a real Postgres or to the embedded PGlite
 * (through pglite-socket), so every store function runs unchanged on both.
 */
import postgres from "postgres";
import { isNotSent, isReadOnly, reconnectBackoff, withFaultRetry } from "./faults.ts";
import { listenResilient } from "./listen.ts";

/** Something that runs one SQL statement with `$n` parameters. */
export interface Queryable {
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements (no parameters), e.g. a migration. */
  execute(script: string): Promise<void>;
}

/** The database: statements, transactions and notifications. */
export interface Db extends Queryable {
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a notification channel. Resolves once listening. When the session is lost
   * it listens again by itself, then calls `onReconnect` (notifications meanwhile were missed).
   */
  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReconnect?: () => void,
  ): Promise<() => Promise<void>>;
  /** Sends a notification to every listener of the channel (on every server). */
  notify(channel: string, payload: string): Promise<void>;
  /** Whether `listen` reaches other connections (false for the embedded database). */
  readonly crossProcessNotify: boolean;
  close(): Promise<void>;
}

/** Options for {@linkcode connectPostgres}. */
export interface PostgresOptions {
  /** Pool size. @default 10 */
  max?: number;
  /** Whether LISTEN/NOTIFY crosses connections. @default true */
  crossProcessNotify?: boolean;
  /** Use named prepared statements. @default true */
  prepare?: boolean;
}

/** Opens a {@linkcode Db} on a Postgres URL with postgres.js. */
export function connectPostgres(url: string, options: PostgresOptions = {}): Db {
  const sql = postgres(url, {
    // postgres.js 3.4.9 reserves a transaction's connection in a hook it skips when the BEGIN
    // is the query that fills a connection's pipeline (porsager/postgres#1189, #823; fix open as
    // #1218): the transaction then runs on no connection (a TypeError that kills the process)
    // while the server sits idle in transaction. A pipeline that never fills takes that case
    // away; queries are spread over the pool's connections as before.
    ...({ max_pipeline: 1_000_000 } as object),
    max: options.max ?? 10,
    prepare: options.prepare ?? true,
    onnotice: () => {},
    connection: { application_name: "kagzi" },
    // A lost database is found out in seconds, and found again within half a second of its
    // return (the driver's default backoff grows to 20 s between attempts).
    connect_timeout: 5,
    backoff: reconnectBackoff,
    // bytea comes back as Uint8Array, int8 as string (bigint-safe), timestamps as Date.
  });
  const run = <T>(
    s: postgres.Sql | postgres.TransactionSql,
    text: string,
    params?: readonly unknown[],
  ) =>
    s.unsafe(text, (params ?? []) as postgres.ParameterOrJSON<never>[], {
      prepare: options.prepare ?? true,
    }) as unknown as Promise<T[]>;
  const execute = async (s: postgres.Sql | postgres.TransactionSql, script: string) => {
    await s.unsafe(script).simple();
  };
  return {
    crossProcessNotify: options.crossProcessNotify ?? true,
    // A connection fault is retried where that is provably safe: the statement only reads, or
    // the connection never opened (nothing was sent); otherwise it reaches the caller.
    query: (text, params) =>
      withFaultRetry(() => run(sql, text, params), (err) => isReadOnly(text) || isNotSent(err)),
    execute: (script) => execute(sql, script),
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => {
      // Retried only when the transaction failed before `fn` sent anything.
      let began = false;
      return withFaultRetry(
        () =>
          sql.begin((tx) => {
            began = true;
            return fn({
              query: (text, params) => run(tx, text, params),
              execute: (script) => execute(tx, script),
            });
          }) as Promise<T>,
        () => !began,
      );
    },
    listen: (channel, onMessage, onReconnect) =>
      listenResilient(url, channel, { onMessage, onReconnect }),
    async notify(channel, payload) {
      await sql.notify(channel, payload);
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/** Base64 of bytes, for passing binary arrays through text parameters. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
