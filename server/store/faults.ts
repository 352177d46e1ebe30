/**
 * Connection-level database failures: which errors mean "the database cannot be reached right
 * now" (as opposed to a bad statement), which of them prove that nothing was sent, and the
 * retries that are safe because of it. `server/errors.ts` answers every such fault UNAVAILABLE
 * with a retry delay; nothing here maps to the wire.
 */

/** How long a caller is told to wait before trying again after a database fault. */
export const faultRetryAfterMs = 500;

/** Driver and socket codes of a connection that failed to open: no statement was sent. */
const connectCodes = new Set([
  "ECONNREFUSED",
  "CONNECT_TIMEOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  // SQLSTATE: the server refused the session (starting up, shutting down, too many clients).
  "57P03",
  "53300",
  "08001",
  "08004",
]);

/** Driver and socket codes of a connection lost while in use: a statement may have run. */
const lostCodes = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  // SQLSTATE: admin shutdown / terminated backend, crash shutdown of another backend.
  "57P01",
  "57P02",
  // Ours: the database did not answer in time (see DatabaseTimeoutError).
  "KAGZI_DB_TIMEOUT",
]);

/** Deno's own error classes for the same socket failures (no `code` on them). */
const denoConnect = ["ConnectionRefused", "AddrNotAvailable", "NotConnected"];
const denoLost = [
  "ConnectionReset",
  "ConnectionAborted",
  "BrokenPipe",
  "TimedOut",
  "UnexpectedEof",
];

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

function denoKind(err: unknown, names: string[]): boolean {
  const errors = (globalThis as { Deno?: { errors?: Record<string, unknown> } }).Deno?.errors;
  return !!errors && names.some((n) => {
    const cls = errors[n];
    return typeof cls === "function" && err instanceof (cls as new () => Error);
  });
}

/** An error the store raises itself when the database does not answer in time. */
export class DatabaseTimeoutError extends Error {
  /** Like a driver code, so the fault checks below see it. */
  readonly code = "KAGZI_DB_TIMEOUT";
  constructor(what: string, ms: number) {
    super(`The database did not answer ${what} within ${ms} ms`);
    this.name = "DatabaseTimeoutError";
  }
}

/** Whether `err` proves the statement never reached the database (the connection never opened). */
export function isNotSent(err: unknown): boolean {
  return connectCodes.has(codeOf(err)) || denoKind(err, denoConnect);
}

/**
 * Whether `err` means the database cannot be reached or dropped the connection: refused,
 * reset, timed out, closed, terminated (57P01/57P02/57P03, SQLSTATE class 08), too many
 * clients. Causes are followed, so a wrapped fault counts too.
 */
export function isConnectionFault(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = codeOf(e);
    if (connectCodes.has(code) || lostCodes.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
    if (denoKind(e, denoConnect) || denoKind(e, denoLost)) return true;
  }
  return false;
}

/**
 * Whether a statement only reads: a plain `select` that locks nothing and calls nothing known
 * to write. Running such a statement twice cannot change what is stored.
 */
export function isReadOnly(sql: string): boolean {
  return /^\s*select\b/i.test(sql) &&
    !/\b(insert|update|delete|for\s+(update|share|no\s+key|key)|nextval|setval|pg_notify|pg_advisory\w*|set_config|pg_terminate_backend|pg_cancel_backend)\b/i
      .test(sql);
}

/** Delays between the attempts of a retried database call. */
const retryDelaysMs = [25, 150, 400];

/**
 * Runs `attempt`, trying again (up to three more times, within about half a second) when it
 * failed with a connection fault and trying again is provably safe: `safe(err)` says so, e.g.
 * the statement only reads, or the fault proves nothing was sent.
 */
export async function withFaultRetry<T>(
  attempt: () => Promise<T>,
  safe: (err: unknown) => boolean,
): Promise<T> {
  for (let i = 0;; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= retryDelaysMs.length || !isConnectionFault(err) || !safe(err)) throw err;
      await new Promise((r) => setTimeout(r, retryDelaysMs[i]));
    }
  }
}

/** Reconnect delay of the driver, in seconds: doubling from 50 ms, capped at half a second. */
export function reconnectBackoff(retries: number): number {
  return Math.min(0.05 * 2 ** Math.max(0, retries - 1), 0.5);
}

let guardInstalled = false;

/**
 * Whether an uncaught exception comes from the driver's socket handling: postgres.js 3.4
 * schedules a write for a statement sent on a connection that has just closed (e.g. the
 * ROLLBACK of a transaction whose connection died) and then writes to the dropped socket.
 */
function isDriverSocketFault(err: unknown): boolean {
  return err instanceof TypeError &&
    /[\\/]postgres[\\/][^\\/]+[\\/]src[\\/]connection\.js/.test(err.stack ?? "");
}

/**
 * Keeps the process alive through the driver's faults when a connection dies: a
 * connection-level rejection nobody awaits, or the driver writing to a socket it dropped. Both
 * are logged, not fatal; every other uncaught error stays fatal. Installed once per process.
 */
export function installFaultGuard(log: (msg: string, err: unknown) => void): void {
  if (guardInstalled || typeof globalThis.addEventListener !== "function") return;
  guardInstalled = true;
  globalThis.addEventListener("unhandledrejection", (e) => {
    if (!isConnectionFault(e.reason) && !isDriverSocketFault(e.reason)) return;
    e.preventDefault();
    log("database connection lost outside a request", e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    if (!isDriverSocketFault(e.error)) return;
    e.preventDefault();
    log("database driver wrote to a closed connection", e.error);
  });
}
