/**
 * The worker's log: leveled, one line per event, in the server's shape
 * (`2026-01-01T00:00:00.000Z WARN message {"json":"fields"}`), to stderr by default.
 *
 * @example Keep the worker's lifecycle and trouble lines (the default), or only trouble
 * ```ts
 * import { Worker } from "@kagzi/sdk";
 * const quiet = Worker.builder("http://localhost:50051").logger("warn");
 * ```
 *
 * @module
 */

/** How much to log: each level includes the ones after it. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Log levels from most to least verbose. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * Receives the worker's events. `fields` are structured details (run id, step, attempt,
 * error message…); the default logger prints them as JSON after the message.
 */
export interface Logger {
  /** Details useful when investigating: steps completed, runs claimed. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** Lifecycle: registered, server reached again, draining, stopped. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Trouble the worker handles: a step failed or will be retried, the server unreachable. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Failures: a run failed, a run parked on a replay mismatch. */
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * A logger writing lines at `level` and above to stderr (`console.error`), in the same
 * shape as the server's log lines.
 */
export function consoleLogger(level: LogLevel = "info"): Logger {
  const min = LOG_LEVELS.indexOf(level);
  if (min < 0) {
    throw new TypeError(`Invalid log level ${JSON.stringify(level)}: use ${LOG_LEVELS.join(", ")}`);
  }
  const emit = (l: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(l) < min) return;
    let tail = "";
    if (fields && Object.keys(fields).length) {
      try {
        tail = " " + JSON.stringify(fields, (_k, v) => typeof v === "bigint" ? String(v) : v);
      } catch {
        tail = " " + String(fields);
      }
    }
    console.error(`${new Date().toISOString()} ${l.toUpperCase()} ${msg}${tail}`);
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** The logger a `.logger(option)` call asks for: a Logger as is, a level, or false for none. */
export function toLogger(option: Logger | LogLevel | false): Logger {
  if (option === false) return silentLogger;
  if (typeof option === "string") return consoleLogger(option);
  for (const m of LOG_LEVELS) {
    if (typeof option?.[m] !== "function") {
      throw new TypeError(`A logger needs a ${m}(msg, fields) method`);
    }
  }
  return option;
}
