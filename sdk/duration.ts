/** Human durations: `"500ms"`, `"30s"`, `"5m 30s"`, `"1h 30m"`, `"1 day"`, `"2 weeks"` or milliseconds. */
import { KagziError } from "./errors.ts";

/** A duration: text such as `"5m 30s"`, or a number of milliseconds. */
export type Duration = string | number;

const units: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

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
  const bad = (why: string) =>
    new KagziError("INVALID_ARGUMENT", `Invalid ${field} ${JSON.stringify(value)}: ${why}`, {
      subject: field,
      nonRetryable: true,
    });
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw bad("expected a non-negative number of milliseconds");
    }
    return value;
  }
  if (typeof value !== "string") throw bad('expected text like "30s" or a number of milliseconds');
  const text = value.trim().toLowerCase();
  if (text === "") throw bad("it is empty");
  if (/^\d+$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?\s*/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (!m) throw bad('expected amounts with units, like "500ms", "5m 30s" or "2 weeks"');
    const unit = units[m[2]];
    if (unit === undefined) throw bad(`unknown unit "${m[2]}"`);
    total += Number(m[1]) * unit;
    pos = part.lastIndex;
  }
  return Math.round(total);
}
