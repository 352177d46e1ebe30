/**
 * The database's health as the server sees it, answered within a bound whatever the database
 * does: one probe (`select` of the applied migrations) at a time, given up after 500 ms, its
 * answer reused for a second. HealthCheck and `GET /readyz` read it.
 */
import type { Queryable } from "./db.ts";
import { DatabaseTimeoutError } from "./faults.ts";

/** What the last probe found. */
export interface HealthState {
  /** The database answered the probe in time. */
  databaseOk: boolean;
  /** Every migration this server ships is applied. */
  migrated: boolean;
  /** "ok", or what is wrong. */
  message: string;
  /** When the probe ended. */
  checkedAt: Date;
}

/** Options of {@linkcode DbHealth}. */
export interface DbHealthOptions {
  /** How long a probe may take before the database counts as unreachable. @default 500 */
  timeoutMs?: number;
  /** How long an answer is reused. @default 1000 */
  cacheMs?: number;
}

/** Probes the database for HealthCheck and readiness. */
export class DbHealth {
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #last?: HealthState;
  /** The probe statement while it has not settled (a slow one is not sent twice). */
  #statement?: Promise<unknown>;
  #probe?: Promise<HealthState>;

  constructor(
    private readonly db: Queryable,
    /** The newest migration version this server ships. */
    private readonly expectedVersion: number,
    options: DbHealthOptions = {},
  ) {
    this.#timeoutMs = options.timeoutMs ?? 500;
    this.#cacheMs = options.cacheMs ?? 1_000;
  }

  /** The server closed its database: every later check says so (no cached answer). */
  close(): void {
    this.#closed = true;
  }

  #closed = false;

  /** The database's health, at most `cacheMs` old; resolves within about `timeoutMs`. */
  check(): Promise<HealthState> {
    if (this.#closed) {
      return Promise.resolve({
        databaseOk: false,
        migrated: false,
        message: "the server closed its database",
        checkedAt: new Date(),
      });
    }
    const last = this.#last;
    if (last && Date.now() - last.checkedAt.getTime() < this.#cacheMs) {
      return Promise.resolve(last);
    }
    this.#probe ??= this.#run().finally(() => (this.#probe = undefined));
    return this.#probe;
  }

  async #run(): Promise<HealthState> {
    let state: HealthState;
    try {
      // A statement still waiting from an earlier probe is not joined by another one.
      const statement = this.#statement ?? this.db.query<{ v: number | null }>(
        "select max(version)::int as v from kagzi_migrations",
      );
      this.#statement = statement;
      statement.then(
        () => (this.#statement = undefined),
        () => (this.#statement = undefined),
      );
      const rows = await withTimeout(statement as Promise<{ v: number | null }[]>, this.#timeoutMs);
      const version = rows[0]?.v ?? 0;
      const migrated = version >= this.expectedVersion;
      state = {
        databaseOk: true,
        migrated,
        message: migrated
          ? "ok"
          : `database schema at migration ${version}, this server needs ${this.expectedVersion}`,
        checkedAt: new Date(),
      };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // No table yet: the database answers but was never migrated.
      const answered = code === "42P01";
      state = {
        databaseOk: answered,
        migrated: false,
        message: answered
          ? "database not migrated (run `deno task migrate`)"
          : `database unreachable: ${(err as Error).message}`,
        checkedAt: new Date(),
      };
    }
    this.#last = state;
    return state;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseTimeoutError("the health probe", ms)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
