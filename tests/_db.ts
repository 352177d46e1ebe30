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

/** Backends for this run; KAGZI_TEST_BACKENDS="embedded,postgres" overrides detection. */
export async function backends(): Promise<Backend[]> {
  const forced = Deno.env.get("KAGZI_TEST_BACKENDS");
  if (forced) return forced.split(",").map((b) => b.trim()) as Backend[];
  return (await postgresAvailable()) ? ["embedded", "postgres"] : ["embedded"];
}
