/** Test databases: a fresh Postgres database per test, dropped afterwards. */
import postgres from "postgres";

const adminUrl = Deno.env.get("KAGZI_TEST_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

let available: Promise<boolean> | undefined;

/** Whether the test Postgres (127.0.0.1:5432 unless KAGZI_TEST_POSTGRES_URL) answers. */
export function postgresAvailable(): Promise<boolean> {
  available ??= (async () => {
    const sql = postgres(adminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
    try {
      await sql`select 1`;
      return true;
    } catch {
      return false;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  })();
  return available;
}

/** A database that exists until disposed. */
export interface TestDatabase extends AsyncDisposable {
  url: string;
  name: string;
}

/** Creates an empty database with a unique name on the test Postgres. */
export async function freshDatabase(): Promise<TestDatabase> {
  const name = `kagzi_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create database ${name}`);
  } finally {
    await sql.end({ timeout: 1 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    name,
    async [Symbol.asyncDispose]() {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}

/** The database backends to test: embedded always, Postgres when reachable. */
export type Backend = "embedded" | "postgres";

/** The backends KAGZI_TEST_BACKENDS asks for ("embedded,postgres"), or undefined when unset. */
function forcedBackends(): Backend[] | undefined {
  const forced = Deno.env.get("KAGZI_TEST_BACKENDS");
  if (!forced) return undefined;
  const list = forced.split(",").map((b) => b.trim()).filter((b) => b !== "");
  for (const b of list) {
    if (b !== "embedded" && b !== "postgres") {
      throw new Error(`KAGZI_TEST_BACKENDS: unknown backend "${b}" (embedded, postgres)`);
    }
  }
  return list as Backend[];
}

let checked: Promise<Backend[]> | undefined;

/**
 * Backends for this run: KAGZI_TEST_BACKENDS when set (and then a forced Postgres that does not
 * answer is an error, never a skip), else embedded plus Postgres when it answers.
 */
export function backends(): Promise<Backend[]> {
  checked ??= (async () => {
    const forced = forcedBackends();
    if (!forced) return (await postgresAvailable()) ? ["embedded", "postgres"] : ["embedded"];
    if (forced.includes("postgres") && !(await postgresAvailable())) {
      throw new Error(
        `KAGZI_TEST_BACKENDS=${forced.join(",")} but no Postgres answers at ${
          redact(adminUrl)
        } (set KAGZI_TEST_POSTGRES_URL, or run under .ci/with_postgres.sh)`,
      );
    }
    return forced;
  })();
  return checked;
}

/**
 * `ignore` for a Postgres-only test: true only when Postgres was not asked for and does not answer.
 * When KAGZI_TEST_BACKENDS names postgres the test is never ignored (it fails if none answers).
 */
export async function postgresIgnored(): Promise<boolean> {
  return !(await backends()).includes("postgres");
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.href;
}

/** Ends every other session of the database at `url`, `times` times, `gapMs` apart. */
export async function dropEveryConnection(url: string, times = 3, gapMs = 150): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; i < times; i++) {
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
                where datname = current_database() and pid <> pg_backend_pid()`;
      await new Promise((r) => setTimeout(r, gapMs));
    }
  } finally {
    await sql.end();
  }
}
