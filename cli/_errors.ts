/** Exit codes of the `kagzi` command and the error that stops a command with one. */
import { KagziError } from "@kagzi/sdk";

/** How the command ended. */
export const Exit = {
  /** It did what was asked. */
  ok: 0,
  /** The run failed or was cancelled (`--wait`, `result`, `show --follow`), or the server is unhealthy. */
  failed: 1,
  /** A bad flag, argument or value (the CLI's check or the server's INVALID_ARGUMENT). */
  usage: 2,
  /** Anything else: the server unreachable, a run not found, a key refused, … */
  error: 3,
} as const;

/** A mistake in the command line; printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  /** Creates the error; `help` names the command whose help to suggest. */
  constructor(message: string, readonly help = "kagzi") {
    super(message);
    this.name = "UsageError";
  }
}

/** Prints `err` to stderr the way the CLI reports failures; returns the exit code. */
export function report(err: unknown): number {
  if (err instanceof UsageError) {
    console.error(`kagzi: ${err.message}\nRun "${err.help} --help" for usage.`);
    return Exit.usage;
  }
  const e = KagziError.from(err);
  const details = [
    e.code,
    e.subject && `field "${e.subject}"`,
    e.subjectId && `id ${e.subjectId}`,
  ]
    .filter(Boolean).join(", ");
  console.error(`kagzi: ${e.message} (${details})`);
  return e.code === "INVALID_ARGUMENT" ? Exit.usage : Exit.error;
}
