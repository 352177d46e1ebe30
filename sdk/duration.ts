/**
 * Human durations: `"500ms"`, `"30s"`, `"5m 30s"`, `"1h 30m"`, `"1 day"`, `"2 weeks"` or
 * milliseconds. The grammar is in `_duration_grammar.ts`; the server reads its settings with it
 * too (`@kagzi/sdk/duration`).
 *
 * @example
 * ```ts
 * import { formatDuration, parseDuration } from "@kagzi/sdk/duration";
 * console.log(parseDuration("1 day"), formatDuration(90_000)); // 86400000 "90s"
 * ```
 *
 * @module
 */
import { type Duration, formatDuration, readDuration } from "./_duration_grammar.ts";
import { KagziError } from "./errors.ts";

export { type Duration, formatDuration };

/**
 * Parses a duration into milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "@kagzi/sdk";
 * console.log(parseDuration("5m 30s")); // 330000
 * ```
 */
export function parseDuration(value: Duration, field = "duration"): number {
  const ms = readDuration(value, field);
  if (typeof ms === "number") return ms;
  throw new KagziError("INVALID_ARGUMENT", ms.message, { subject: field, nonRetryable: true });
}
