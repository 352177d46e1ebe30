/**
 * A local simulation of Deno Deploy for tests: server instances started as the platform starts
 * them (`DENO_DEPLOY=true`, `DATABASE_URL`, no flags but `--unstable-cron`, which Deploy has
 * built in), on one real Postgres migrated by the README's pre-deploy command, and stopped as
 * the platform stops them (SIGINT, SIGKILL 5 s later).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { freshDatabase, type TestDatabase } from "./_db.ts";
import { spawnDeno, type TestProcess } from "./_process.ts";
import { freePort, onFreePorts } from "./_server.ts";

const root = new URL("..", import.meta.url).pathname;
const serverMain = new URL("../server/main.ts", import.meta.url).pathname;

/** One server instance. */
export interface Instance extends TestProcess {
  url: string;
  port: number;
}

/** Options of {@linkcode startCluster}. */
export interface ClusterOptions {
  /**
   * Run the `Deno.cron` maintenance job, every `cronEveryMs` instead of every minute (Deno's
   * own test hook `DENO_CRON_TEST_SCHEDULE_OFFSET`); without it only requests drive the engine.
   */
  cronEveryMs?: number;
  /** Extra server flags, e.g. a short lease. */
  args?: string[];
}

/** Two instances, `a` and `b`, on one fresh database. */
export interface Cluster extends AsyncDisposable {
  db: TestDatabase;
  a: Instance;
  b: Instance;
  /** The output of `deno task migrate`. */
  migrateOutput: string;
  /** Starts a new instance on `old`'s port (the platform starting one for the same URL). */
  replace(old: Instance): Promise<Instance>;
  /** Reads the database directly (not through an instance, so no request drives the engine). */
  sql: postgres.Sql;
}

/** Migrates a fresh database with `deno task migrate` and starts two instances on it. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const db = await freshDatabase();
  const started: Instance[] = [];
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const start = async (port?: number) => {
    const i = await onFreePorts(
      port === undefined,
      () => startInstance(db.url, port ?? freePort(), options),
    );
    started.push(i);
    return i;
  };
  try {
    const migrateOutput = await migrate(db.url);
    const [a, b] = await Promise.all([start(), start()]);
    return {
      db,
      a,
      b,
      migrateOutput,
      sql,
      replace: (old) => start(old.port),
      async [Symbol.asyncDispose]() {
        for (const i of started) await i[Symbol.asyncDispose]();
        await sql.end({ timeout: 1 });
        await db[Symbol.asyncDispose]();
      },
    };
  } catch (err) {
    for (const i of started) await i[Symbol.asyncDispose]();
    await sql.end({ timeout: 1 });
    await db[Symbol.asyncDispose]();
    throw err;
  }
}

/** Runs the pre-deploy command of the README: `deno task migrate` with DATABASE_URL set. */
export async function migrate(databaseUrl: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "migrate"],
    cwd: root,
    env: { DATABASE_URL: databaseUrl, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `deno task migrate failed:\n${text}`);
  return text;
}

async function startInstance(
  databaseUrl: string,
  port: number,
  options: ClusterOptions,
): Promise<Instance> {
  const cron = options.cronEveryMs !== undefined;
  const proc = await spawnDeno(
    [
      "run",
      "-A",
      ...(cron ? ["--unstable-cron"] : []),
      serverMain,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--log-level",
      "warn",
      ...(options.args ?? []),
    ],
    {
      DENO_DEPLOY: "true",
      DATABASE_URL: databaseUrl,
      ...(cron ? { DENO_CRON_TEST_SCHEDULE_OFFSET: String(options.cronEveryMs) } : {}),
    },
    " ready: ",
    "deploy instance",
  );
  return { ...proc, url: `http://127.0.0.1:${port}`, port };
}

/**
 * Stops an instance the way Deno Deploy does: SIGINT, then SIGKILL if it is still running 5 s
 * later. Resolves with its exit status and how long it took to exit.
 */
export async function stopLikeDeploy(
  i: Instance,
): Promise<{ status: Deno.CommandStatus; ms: number }> {
  const t0 = Date.now();
  i.kill("SIGINT");
  const killer = setTimeout(() => i.kill("SIGKILL"), 5_000);
  const status = await i.status;
  clearTimeout(killer);
  return { status, ms: Date.now() - t0 };
}

/** A run's row as stored. */
export async function runRow(
  sql: postgres.Sql,
  runId: string,
): Promise<{ status: string; attempt: number }> {
  const [row] = await sql`select status, attempt from kagzi_runs where run_id = ${runId}`;
  return row as unknown as { status: string; attempt: number };
}
