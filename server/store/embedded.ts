/**
 * The embedded database: PGlite (Postgres compiled to WebAssembly) persisted
 * under a data directory, served over the Postgres wire protocol by
 * pglite-socket from a Deno Worker, so the server reaches it with the same
 * postgres.js driver it uses for a real Postgres. A file lock keeps a second
 * server off the same directory; PGlite never autovacuums, so this does.
 *
 * @module
 */
import { resolve } from "node:path";
import type { EmbeddedReply, EmbeddedRequest } from "./embedded_worker.ts";

/** Options of {@linkcode startEmbedded}. */
export interface EmbeddedOptions {
  /** Where the data lives (the database in `pgdata/`, the lock in `server.lock`). @default "./.kagzi" */
  dataDir?: string;
  /** How often to run VACUUM ANALYZE, in ms. @default 300000 */
  vacuumIntervalMs?: number;
  /**
   * Keep the database in memory (no data directory, lock or VACUUM), starting from a
   * {@linkcode Embedded.dump} when given one. @default false
   */
  memory?: boolean | { load?: Blob };
}

/** A running embedded database. */
export interface Embedded {
  /**
   * A postgres:// URL on 127.0.0.1 for a postgres.js pool with `max: 1`: the
   * socket server accepts one connection, and LISTEN/NOTIFY stays on it.
   */
  readonly url: string;
  /** The data directory as a tarball (for `memory: { load }`); call it between transactions. */
  dump(): Promise<Blob>;
  /** Stops the socket server, closes PGlite, ends the worker and releases the lock. */
  close(): Promise<void>;
}

/** Another process holds the data directory. */
export class DataDirLockedError extends Error {
  /** The absolute data directory. */
  readonly dataDir: string;
  /** The pid recorded by the holder, when it could be read. */
  readonly pid: number | undefined;
  /** Names the directory and, when the lock file records it, the holder's pid. */
  constructor(dataDir: string, pid?: number) {
    super(
      `Cannot open the embedded database: data directory "${dataDir}" is in use by another ` +
        `Kagzi server${pid ? ` (pid ${pid})` : ""}; stop it or pass a different --data-dir`,
    );
    this.name = "DataDirLockedError";
    this.dataDir = dataDir;
    this.pid = pid;
  }
}

/** A first start runs initdb, which takes a few seconds; a wedged worker must not hang startup. */
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Locks the data directory, starts PGlite and its socket server in a Worker
 * and returns the URL to reach them.
 *
 * @throws {DataDirLockedError} when another process holds the data directory.
 */
export async function startEmbedded(options: EmbeddedOptions = {}): Promise<Embedded> {
  const memory = options.memory ? { ...(options.memory === true ? {} : options.memory) } : false;
  const dir = memory ? "memory" : resolve(options.dataDir ?? "./.kagzi");
  const vacuumIntervalMs = options.vacuumIntervalMs ?? 300_000;
  if (!memory) await Deno.mkdir(dir, { recursive: true });
  const lock = memory ? undefined : await lockDataDir(dir);

  const worker = new Worker(new URL("./embedded_worker.ts", import.meta.url), { type: "module" });
  const pending = new Map<number, (reply: EmbeddedReply) => void>();
  let crashed: string | undefined;
  let nextId = 1;
  worker.onmessage = (e: MessageEvent<EmbeddedReply>) => {
    pending.get(e.data.id)?.(e.data);
    pending.delete(e.data.id);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    crashed = e.message;
    console.error(`embedded database worker failed: ${e.message}`);
    for (const settle of pending.values()) settle({ id: 0, error: e.message });
    pending.clear();
  };
  const ask = (req: Omit<EmbeddedRequest, "id">, timeoutMs?: number): Promise<EmbeddedReply> => {
    if (crashed) return Promise.reject(new Error(`the worker failed: ${crashed}`));
    const id = nextId++;
    return new Promise((res, rej) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        pending.delete(id);
        rej(new Error(`no answer to "${req.cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error !== undefined) rej(new Error(reply.error));
        else res(reply);
      });
      worker.postMessage({ ...req, id });
    });
  };

  let port: number;
  try {
    const start = memory
      ? { cmd: "start" as const, load: memory.load }
      : { cmd: "start" as const, dataDir: `${dir}/pgdata` };
    port = (await ask(start, START_TIMEOUT_MS)).port!;
  } catch (err) {
    worker.terminate();
    lock?.close();
    throw new Error(
      `Cannot open the embedded database in "${dir}": ${(err as Error).message}`,
      { cause: err },
    );
  }

  // A run waits at most half a period for a gap between transactions, then
  // skips; a VACUUM that has begun takes as long as it takes, and the next
  // tick skips rather than queueing behind it.
  let closing: Promise<void> | undefined;
  let vacuuming = false;
  const timer = memory ? undefined : setInterval(() => {
    if (vacuuming) return;
    vacuuming = true;
    ask({ cmd: "vacuum", waitMs: vacuumIntervalMs / 2 })
      .catch((err) => {
        if (!closing) console.error(`embedded database: VACUUM ANALYZE ${err.message}`);
      })
      .finally(() => vacuuming = false);
  }, vacuumIntervalMs);

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dump: async () => (await ask({ cmd: "dump" }, START_TIMEOUT_MS)).dump!,
    close() {
      return closing ??= (async () => {
        clearInterval(timer);
        try {
          // The worker drops a vacuum still waiting for a gap; one already running finishes first.
          await ask({ cmd: "stop" }, STOP_TIMEOUT_MS);
        } finally {
          worker.terminate();
          for (const settle of pending.values()) settle({ id: 0, error: "closed" });
          pending.clear();
          lock?.close(); // closing the file releases the lock
        }
      })();
    },
  };
}

/** Takes the exclusive lock on `<dir>/server.lock` and records the pid in it. */
async function lockDataDir(dir: string): Promise<Deno.FsFile> {
  const path = `${dir}/server.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  // flock(2): held by this open file, dropped by the kernel when the process dies, even by kill -9.
  if (!(await file.tryLock(true))) {
    file.close();
    const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
    throw new DataDirLockedError(dir, Number.isInteger(pid) && pid > 0 ? pid : undefined);
  }
  try {
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (err) {
    file.close();
    throw err;
  }
  return file;
}
