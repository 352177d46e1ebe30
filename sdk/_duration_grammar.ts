/**
 * The duration grammar, with no imports: `"500ms"`, `"30s"`, `"5m 30s"`, `"1h30m"`, `"1 day"`,
 * `"2 weeks"` or plain milliseconds. `duration.ts` (public, throws `KagziError`) and `errors.ts`
 * (`RetryAfterError`) read durations through it, so neither imports the other.
 */

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

/** Milliseconds of `value`, or the message saying why it is not a duration. */
export function readDuration(value: Duration, field: string): number | { message: string } {
  const bad = (why: string) => ({
    message: `Invalid ${field} ${JSON.stringify(value)}: ${why}`,
  });
  const ms = readAny(value, bad);
  // Past this a time computed from now is no valid Date (the server takes up to year 9999).
  if (typeof ms === "number" && ms > maxDurationMs) return bad("it is more than 1000 years");
  return ms;
}

/** The longest duration: 1000 years. */
const maxDurationMs = 1000 * 365.25 * 86_400_000;

function readAny(
  value: Duration,
  bad: (why: string) => { message: string },
): number | { message: string } {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      return bad("expected a non-negative number of milliseconds");
    }
    return value;
  }
  if (typeof value !== "string") return bad('expected text like "30s" or a number of milliseconds');
  const text = value.trim().toLowerCase();
  if (text === "") return bad("it is empty");
  if (/^\d+$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?\s*/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    part.lastIndex = pos;
    const m = part.exec(text);
    if (!m) return bad('expected amounts with units, like "500ms", "5m 30s" or "2 weeks"');
    const unit = units[m[2]];
    if (unit === undefined) return bad(`unknown unit "${m[2]}"`);
    total += Number(m[1]) * unit;
    pos = part.lastIndex;
  }
  return Math.round(total);
}

/** A duration shown with its largest whole unit, e.g. 604800000 → "1w", 90000 → "90s". */
export function formatDuration(ms: number): string {
  for (const unit of ["w", "d", "h", "m", "s"]) {
    if (ms >= units[unit] && ms % units[unit] === 0) return `${ms / units[unit]}${unit}`;
  }
  return `${ms}ms`;
}
