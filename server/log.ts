/** A small leveled logger writing one line per event to stderr. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Log levels from most to least verbose. */
export const logLevels: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** A leveled logger. */
export interface Logger {
  /** Logs a detail useful when investigating; `extra` is appended (an Error's stack, or JSON). */
  debug(msg: string, extra?: unknown): void;
  /** Logs a normal event. */
  info(msg: string, extra?: unknown): void;
  /** Logs something unexpected the server recovered from. */
  warn(msg: string, extra?: unknown): void;
  /** Logs a failure. */
  error(msg: string, extra?: unknown): void;
}

/** Creates a logger that drops events below `level`. */
export function createLogger(level: LogLevel): Logger {
  const min = logLevels.indexOf(level);
  const emit = (l: LogLevel) => (msg: string, extra?: unknown) => {
    if (logLevels.indexOf(l) < min) return;
    const tail = extra === undefined
      ? ""
      : " " + (extra instanceof Error ? (extra.stack ?? extra.message) : JSON.stringify(extra));
    console.error(`${new Date().toISOString()} ${l.toUpperCase()} ${msg}${tail}`);
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
