/**
 * Durations in settings: `"7d"`, `"12h"`, `"1h30m"`, `"5m 30s"`, `"500ms"`, `"1 day"`,
 * `"2 weeks"` or plain milliseconds: the grammar of the SDK's `parseDuration`
 * (`sdk/duration.ts`, the same unit names), which the server does not import.
 */

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

/** Milliseconds of a duration, or undefined when `text` is not one. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === "") return undefined;
  if (/^\d+$/.test(t)) return Number(t);
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*,?\s*/y;
  let total = 0;
  for (let pos = 0; pos < t.length; pos = part.lastIndex) {
    part.lastIndex = pos;
    const m = part.exec(t);
    if (!m || units[m[2]] === undefined) return undefined;
    total += Number(m[1]) * units[m[2]];
  }
  return Math.round(total);
}

/** A duration shown with its largest whole unit, e.g. 604800000 → "7d". */
export function formatDurationMs(ms: number): string {
  for (const unit of ["w", "d", "h", "m", "s"]) {
    if (ms >= units[unit] && ms % units[unit] === 0) return `${ms / units[unit]}${unit}`;
  }
  return `${ms}ms`;
}
