/**
 * The Worker behind {@linkcode startEmbedded}: PGlite plus pglite-socket, off
 * the server's event loop. Requests carry an `id`; every reply echoes it:
 * `{id, cmd: "start", dataDir}` → `{id, port}` (no `dataDir`: in memory, from `load` if
 * given), `{id, cmd: "vacuum", waitMs}` → `{id}`, `{id, cmd: "dump"}` → `{id, dump}` (the data
 * directory as a tarball), `{id, cmd: "stop"}` → `{id}`, or `{id, error}` for any of them.
 *
 * @module
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/** A request from the main thread. */
export interface EmbeddedRequest {
  id: number;
  cmd: "start" | "vacuum" | "dump" | "stop";
  dataDir?: string;
  /** A tarball from "dump" to start from (in memory only). */
  load?: Blob;
  waitMs?: number;
}

/** The reply to an {@linkcode EmbeddedRequest}. */
export interface EmbeddedReply {
  id: number;
  port?: number;
  dump?: Blob;
  error?: string;
}

let db: PGlite | undefined;
let server: PGLiteSocketServer | undefined;
let stopping = false;
/**
 * Whether the client sits between requests: its last message ended one
 * (Sync, simple Query, startup, Terminate) and no transaction is open. pglite
 * runs one message at a time, so a statement of ours slipped in after a Parse
 * or Bind would run inside the client's implicit transaction, or be skipped
 * after its error.
 */
let clientAtBoundary = true;
const boundaryTypes = new Set([0x53, 0x51, 0x58, 0x00]); // 'S', 'Q', 'X', startup/SSL request

async function start(dataDir?: string, load?: Blob): Promise<number> {
  db = await PGlite.create(dataDir ? { dataDir } : { loadDataDir: load });
  const raw = db.execProtocolRawStream.bind(db);
  db.execProtocolRawStream = async (message, options) => {
    clientAtBoundary = false;
    await raw(message, options);
    clientAtBoundary = boundaryTypes.has(message[0]);
  };
  // Port 0 lets the OS pick a free port. One connection: pglite is a single session.
  server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 });
  await server.start();
  return Number(server.getServerConn().split(":").pop());
}

const encoder = new TextEncoder();
function queryMessage(sql: string): Uint8Array {
  const text = encoder.encode(sql);
  const msg = new Uint8Array(6 + text.length);
  msg[0] = 0x51; // 'Q'
  new DataView(msg.buffer).setInt32(1, 5 + text.length);
  msg.set(text, 5);
  return msg;
}
const syncMessage = new Uint8Array([0x53, 0, 0, 0, 4]);

/** Runs VACUUM ANALYZE between the client's requests, waiting at most `waitMs` for a gap. */
async function vacuum(waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!stopping) {
    const ran = await db!.runExclusive(async () => {
      if (stopping) return true;
      if (!clientAtBoundary || db!.isInTransaction()) return false;
      try {
        await db!.execProtocol(queryMessage("VACUUM ANALYZE"));
      } finally {
        await db!.execProtocol(syncMessage, { throwOnError: false });
      }
      return true;
    });
    if (ran) return;
    if (Date.now() >= deadline) {
      throw new Error(`skipped: the connection was never between transactions for ${waitMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Emscripten's errno numbers, for the file-system errors PGlite throws as bare objects. */
const errnoNames: Record<number, string> = {
  2: "EACCES (permission denied)",
  20: "EEXIST (file exists)",
  29: "EIO (input/output error)",
  31: "EISDIR (is a directory)",
  44: "ENOENT (no such file or directory)",
  51: "ENOSPC (no space left on device)",
  54: "ENOTDIR (not a directory)",
  63: "EPERM (operation not permitted)",
  69: "EROFS (read-only file system)",
};

async function describe(err: unknown, dataDir?: string): Promise<string> {
  const errno = (err as { errno?: unknown } | null)?.errno;
  if (typeof errno === "number") {
    const name = errnoNames[errno] ?? `errno ${errno}`;
    return `file system error ${name}${dataDir ? ` under "${dataDir}"` : ""}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  const version = dataDir &&
    (await Deno.readTextFile(`${dataDir}/PG_VERSION`).catch(() => "")).trim();
  return version ? `${message} (pgdata/PG_VERSION says PostgreSQL ${version})` : message;
}

async function stop(): Promise<void> {
  stopping = true;
  await server?.stop();
  if (db && !db.closed) await db.close();
}

/** The worker's global scope (typed here: JSR packages may not reference the worker lib). */
const scope = self as unknown as {
  addEventListener(type: "unhandledrejection", fn: (e: PromiseRejectionEvent) => void): void;
  onmessage: ((e: MessageEvent<EmbeddedRequest>) => void) | null;
  postMessage(message: EmbeddedReply): void;
};

// pglite-socket detaches disconnected clients without awaiting; log, don't die.
scope.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  console.error("embedded database:", e.reason);
});

scope.onmessage = async (e: MessageEvent<EmbeddedRequest>) => {
  const { id, cmd } = e.data;
  let reply: EmbeddedReply = { id };
  try {
    if (cmd === "start") reply.port = await start(e.data.dataDir, e.data.load);
    else if (cmd === "vacuum") await vacuum(e.data.waitMs ?? 0);
    else if (cmd === "dump") reply.dump = await db!.dumpDataDir("none");
    else if (cmd === "stop") await stop();
  } catch (err) {
    reply = { id, error: await describe(err, e.data.dataDir) };
  }
  scope.postMessage(reply);
};
