/** Real server processes for integration tests, on 127.0.0.1 with free ports. */
import { type Backend, freshDatabase, type TestDatabase } from "./_db.ts";
import { migratedDataDir } from "./_pgdata.ts";
import { spawnDeno, type TestProcess } from "./_process.ts";

const mainModule = new URL("../server/main.ts", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (closed again, so take it soon). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** Postgres URL; empty uses the embedded database in `dataDir`. */
  databaseUrl?: string;
  dataDir?: string;
  port?: number;
  grpcPort?: number;
  /** Extra flags, e.g. ["--poll-timeout-ms", "2000"]. */
  args?: string[];
  env?: Record<string, string>;
}

/** A running server process. */
export interface ServerProcess extends TestProcess {
  url: string;
  grpcUrl: string;
  port: number;
  grpcPort: number;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Runs `start`, and again (up to three times in all) when a port it picked with
 * {@linkcode freePort} was taken before the process bound it (another test's process got it
 * first); `picked` false (the caller named the ports) tries once.
 */
export async function onFreePorts<T>(picked: boolean, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await start();
    } catch (err) {
      const taken = err instanceof Error && /did not start/.test(err.message) &&
        // Deno says AddrInUse; the gRPC listener (node:http2 in its own process) EADDRINUSE.
        /AddrInUse|EADDRINUSE|address already in use/i.test(err.message);
      if (!picked || attempt >= 3 || !taken) throw err;
    }
  }
}

/** Spawns `deno run server/main.ts` and waits for its ready line. */
export function startServer(options: ServerOptions = {}): Promise<ServerProcess> {
  const picked = options.port === undefined || options.grpcPort === undefined;
  return onFreePorts(picked, () => startServerOnce(options));
}

async function startServerOnce(options: ServerOptions): Promise<ServerProcess> {
  const port = options.port ?? freePort();
  const grpcPort = options.grpcPort ?? freePort();
  const args = [
    "run",
    "-A",
    "--unstable-no-legacy-abort",
    mainModule,
    "--port",
    String(port),
    "--grpc-port",
    String(grpcPort),
    "--log-level",
    "warn",
    ...(options.databaseUrl ? ["--database-url", options.databaseUrl] : []),
    ...(options.dataDir ? ["--data-dir", options.dataDir] : []),
    ...(options.args ?? []),
  ];
  const proc = await spawnDeno(args, options.env ?? {}, " ready: ", "server");
  return {
    ...proc,
    url: `http://127.0.0.1:${port}`,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    port,
    grpcPort,
    async stop() {
      proc.kill("SIGTERM");
      return await proc.status;
    },
  };
}

/** A server on the given backend with its own fresh database or data directory. */
export interface TestServer extends ServerProcess {
  backend: Backend;
  /** Starts another server process on the same database (after this one stopped, for embedded). */
  restart(options?: ServerOptions): Promise<ServerProcess>;
  databaseUrl: string;
  dataDir: string;
}

/**
 * Starts a server on `backend` with a fresh database (embedded: a copy of a migrated template,
 * see tests/_pgdata.ts); disposing stops it and drops the data.
 */
export async function startTestServer(
  backend: Backend,
  options: ServerOptions = {},
): Promise<TestServer> {
  let db: TestDatabase | undefined;
  let dataDir = "";
  if (backend === "postgres") db = await freshDatabase();
  else dataDir = await migratedDataDir("kagzi_test_");
  const base: ServerOptions = { ...options, databaseUrl: db?.url, dataDir: dataDir || undefined };
  const extra: ServerProcess[] = [];
  let proc: ServerProcess;
  try {
    proc = await startServer(base);
  } catch (err) {
    await db?.[Symbol.asyncDispose]();
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    ...proc,
    backend,
    databaseUrl: db?.url ?? "",
    dataDir,
    async restart(more: ServerOptions = {}) {
      const p = await startServer({ ...base, ...more });
      extra.push(p);
      return p;
    },
    async [Symbol.asyncDispose]() {
      for (const p of [proc, ...extra]) await p[Symbol.asyncDispose]();
      await db?.[Symbol.asyncDispose]();
      if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}
