/** Sliding-window counts of event times, for the rate-limit tests. */

/** The most events in any half-open window [t, t + windowMs) of the given times (ms). */
export function slidingMax(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi] - t[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** The shortest span (ms) covering `n` consecutive events, or Infinity with fewer events. */
export function shortestSpan(times: number[], n: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = Infinity;
  for (let i = 0; i + n - 1 < t.length; i++) best = Math.min(best, t[i + n - 1] - t[i]);
  return best;
}
