/**
 * The Run detail screen's waterfall: one row per step, sleep, signal wait and child run, one bar
 * per attempt on a shared time axis, with the waits between attempts (retry back-off) drawn as
 * dashed gaps. Drawn as SVG; each bar carries its attempt, status and duration for assistive
 * technology and for the browser test.
 */
import { formatDuration } from "./format.ts";
import { attemptEnd, kindLabel, shownStatus, type TimelineStep } from "./timeline.ts";

/** Width of the drawing in SVG units (stretched to the row). */
const width = 1000;

/** One attempt placed on the axis, or a gap between two attempts. */
export interface Segment {
  kind: "bar" | "gap";
  /** Offset from the start of the run, in ms. */
  from: number;
  to: number;
  attempt: number;
  status: string;
  /** The attempt had no end yet and was drawn up to now. */
  open: boolean;
}

/** The axis: the first start, the last end (now while something is open), in epoch ms. */
export function span(steps: TimelineStep[], now: number): { start: number; end: number } {
  let start = Infinity, end = -Infinity;
  for (const s of steps) {
    for (const a of s.attempts) {
      const t0 = a.startedAt?.getTime();
      if (t0 === undefined) continue;
      start = Math.min(start, t0);
      const t1 = attemptEnd(a)?.getTime() ?? now;
      end = Math.max(end, t1, a.retryAt?.getTime() ?? t1);
    }
  }
  if (start === Infinity) return { start: now, end: now + 1 };
  return { start, end: Math.max(end, start + 1) };
}

/** The bars and gaps of one step, in ms from `start`. */
export function segments(s: TimelineStep, start: number, now: number): Segment[] {
  const out: Segment[] = [];
  s.attempts.forEach((a, i) => {
    if (!a.startedAt) return;
    const from = a.startedAt.getTime() - start;
    const end = attemptEnd(a);
    const to = (end?.getTime() ?? now) - start;
    const status = shownStatus(a);
    const prev = out.findLast((x) => x.kind === "bar");
    if (prev && from > prev.to) {
      out.push({ kind: "gap", from: prev.to, to: from, attempt: a.attempt, status, open: false });
    }
    out.push({ kind: "bar", from, to, attempt: a.attempt, status, open: !end });
    // A failed last attempt with a retry due: the wait before it, still to come.
    if (i === s.attempts.length - 1 && a.retryAt && a.retryAt.getTime() - start > to) {
      out.push({
        kind: "gap",
        from: to,
        to: a.retryAt.getTime() - start,
        attempt: a.attempt + 1,
        status: "RETRY",
        open: true,
      });
    }
  });
  return out;
}

/** Five or so round tick offsets (ms) across `total` ms. */
export function ticks(total: number): number[] {
  const rough = total / 5;
  const pow = 10 ** Math.floor(Math.log10(Math.max(rough, 1)));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((x) => x >= rough) ?? pow * 10;
  const out: number[] = [];
  for (let t = 0; t <= total && out.length < 12; t += step) out.push(t);
  return out;
}

/** The waterfall of a run's steps (from `timeline()`). */
export function Waterfall(props: { steps: TimelineStep[]; now?: number }) {
  const now = props.now ?? Date.now();
  const steps = props.steps.filter((s) => s.attempts.some((a) => a.startedAt));
  if (steps.length === 0) return null;
  const { start, end } = span(steps, now);
  const total = end - start;
  const x = (ms: number) => (ms / total) * width;
  return (
    <section aria-labelledby="waterfall-title" class="waterfall">
      <h2 id="waterfall-title">Waterfall</h2>
      <div class="wf-axis" aria-hidden="true">
        <span class="wf-label" />
        <span class="wf-ticks">
          {ticks(total).map((t) => (
            <span key={t} style={{ left: `${(t / total) * 100}%` }}>+{formatDuration(t)}</span>
          ))}
        </span>
      </div>
      <ol class="wf-rows">
        {steps.map((s) => (
          <li key={s.key} class="wf-row" data-step={s.label}>
            <span class="wf-label" title={`${kindLabel(s.kind)} ${s.label}`}>
              <span class="kind">{kindLabel(s.kind)}</span> {s.label}
            </span>
            <svg
              class="wf-track"
              viewBox={`0 0 ${width} 20`}
              preserveAspectRatio="none"
              role="group"
              aria-label={`Attempts of ${s.label}`}
            >
              {segments(s, start, now).map((g, i) => {
                const what = g.kind === "bar"
                  ? `${s.label} attempt ${g.attempt}: ${g.status}, ${
                    formatDuration(g.to - g.from)
                  }${g.open ? " so far" : ""}, at +${formatDuration(g.from)}`
                  : `${s.label} waited ${
                    formatDuration(g.to - g.from)
                  } before attempt ${g.attempt}`;
                return g.kind === "bar"
                  ? (
                    <rect
                      key={i}
                      class={`wf-bar wf-${g.status.toLowerCase()}${g.open ? " wf-open" : ""}`}
                      data-attempt={g.attempt}
                      data-status={g.status}
                      x={x(g.from)}
                      width={Math.max(x(g.to) - x(g.from), 3)}
                      y={3}
                      height={14}
                      rx={2}
                      role="img"
                      aria-label={what}
                    >
                      <title>{what}</title>
                    </rect>
                  )
                  : (
                    <line
                      key={i}
                      class="wf-gap"
                      data-before-attempt={g.attempt}
                      x1={x(g.from)}
                      x2={x(g.to)}
                      y1={10}
                      y2={10}
                      role="img"
                      aria-label={what}
                    >
                      <title>{what}</title>
                    </line>
                  );
              })}
            </svg>
          </li>
        ))}
      </ol>
      <p class="subtle wf-total">
        {formatDuration(total)}{" "}
        from the first step's start; dashed: waiting before the next attempt.
      </p>
    </section>
  );
}
