/**
 * A private Postgres for database-fault tests: its own cluster (`initdb`) in a temp dir, on its
 * own port, started and stopped with `pg_ctl`, so a test can cut every connection, refuse new
 * ones and restart it without touching the shared Postgres. Uses the machine's PostgreSQL
 * binaries (PG_BIN, else /usr/lib/postgresql/<15..17>/bin, else PATH); as root, the cluster
 * runs as the `postgres` user (initdb refuses root).
 */
import postgres from "postgres";
import { freePort } from "./_server.ts";

/** A private Postgres cluster; disposing stops it and removes its files. */
export interface PrivatePostgres extends AsyncDisposable {
  /** URL of its `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** Terminates every backend except this helper's own (what a failover or proxy restart does). */
  terminateAll(): Promise<number>;
  /** Stops the cluster (`-m fast` or `immediate`): new connections are refused until `start`. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Starts it again on the same port and waits until it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl restart -m immediate` (a crash and recovery). */
  restartImmediate(): Promise<void>;
}

function binDir(): string | undefined {
  const env = Deno.env.get("PG_BIN");
  if (env) return env;
  for (const v of [15, 16, 17, 14]) {
    const d = `/usr/lib/postgresql/${v}/bin`;
    try {
      Deno.statSync(`${d}/pg_ctl`);
      return d;
    } catch { /* next */ }
  }
  return undefined;
}

/** Whether `initdb` and `pg_ctl` can be found. */
export function privatePostgresAvailable(): boolean {
  const dir = binDir();
  if (dir) return true;
  try {
    return new Deno.Command("pg_ctl", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const isRoot = Deno.uid?.() === 0;

async function run(tool: string, args: string[]): Promise<string> {
  const dir = binDir();
  const exe = dir ? `${dir}/${tool}` : tool;
  const cmd = isRoot
    ? new Deno.Command("runuser", { args: ["-u", "postgres", "--", exe, ...args] })
    : new Deno.Command(exe, { args });
  const out = await cmd.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${tool} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** Creates and starts a private cluster on a free port. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = await Deno.makeTempDir({ prefix: "kagzi_pg_" });
  if (isRoot) await Deno.chown(root, uidOf("postgres"), null);
  const data = `${root}/data`;
  const port = freePort();
  await run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
  const opts = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${root}`,
    "-c fsync=off",
    "-c max_connections=200",
  ].join(" ");
  const log = `${root}/log.txt`;
  const start = () => run("pg_ctl", ["-D", data, "-l", log, "-o", opts, "-w", "-t", "30", "start"]);
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const admin = () => postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  let stopped = false;
  return {
    url,
    port,
    async terminateAll() {
      const sql = admin();
      try {
        const rows = await sql`select count(*)::int as n from (
          select pg_terminate_backend(pid) from pg_stat_activity
          where pid <> pg_backend_pid() and backend_type = 'client backend') t`;
        return rows[0].n as number;
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
      }
    },
    async stop(mode = "fast") {
      stopped = true;
      await run("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]);
    },
    async start() {
      await start();
      stopped = false;
    },
    async restartImmediate() {
      await run("pg_ctl", ["-D", data, "-l", log, "-o", opts, "-m", "immediate", "-w", "restart"]);
    },
    async [Symbol.asyncDispose]() {
      if (!stopped) {
        await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      }
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

function uidOf(user: string): number {
  const out = new Deno.Command("id", { args: ["-u", user] }).outputSync();
  return Number(new TextDecoder().decode(out.stdout).trim());
}
