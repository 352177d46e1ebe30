/**
 * Durations in settings: `"7d"`, `"12h"`, `"30s"`, `"1h30m"`, `"500ms"` or plain
 * milliseconds. The SDK has the same grammar (`sdk/duration.ts`); the server
 * does not import the SDK, and this is a dozen lines.
 */

const units: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Milliseconds of a duration, or undefined when `text` is not one. */
export function parseDurationMs(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) return Number(t);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w)\s*)+$/.test(t)) return undefined;
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * units[m[2]];
  return Math.round(total);
}

/** A duration shown with its largest whole unit, e.g. 604800000 → "7d". */
export function formatDurationMs(ms: number): string {
  for (const unit of ["w", "d", "h", "m", "s"]) {
    if (ms >= units[unit] && ms % units[unit] === 0) return `${ms / units[unit]}${unit}`;
  }
  return `${ms}ms`;
}
