/**
 * The Overview screen: runs begun, completed and failed per minute over the last hour, per
 * workflow type, from the server's store (`client.runStats()`, GetRunStats), as an SVG chart
 * and a table of totals per type.
 */
import type { RunStats } from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate, route } from "./router.ts";
import { Link, Notice } from "./ui.tsx";

const minutes = 60;
const series = ["begun", "completed", "failed"] as const;
type Series = typeof series[number];

/** Per-minute counts of each series for `type` ("" for every type), oldest minute first. */
export function perMinute(stats: RunStats, type: string): Record<Series, number[]> {
  const out = { begun: [], completed: [], failed: [] } as Record<Series, number[]>;
  for (const s of series) out[s] = new Array(minutes).fill(0);
  const start = stats.since.getTime();
  for (const b of stats.buckets) {
    if (type && b.type !== type) continue;
    const i = Math.round((b.minute.getTime() - start) / 60_000);
    if (i < 0 || i >= minutes) continue;
    for (const s of series) out[s][i] += b[s];
  }
  return out;
}

/** Totals per type over the window, most runs begun first. */
export function totals(stats: RunStats): { type: string; counts: Record<Series, number> }[] {
  const by = new Map<string, Record<Series, number>>();
  for (const b of stats.buckets) {
    const t = by.get(b.type) ?? { begun: 0, completed: 0, failed: 0 };
    for (const s of series) t[s] += b[s];
    by.set(b.type, t);
  }
  return [...by].map(([type, counts]) => ({ type, counts }))
    .sort((a, b) => b.counts.begun - a.counts.begun || a.type.localeCompare(b.type));
}

function Chart(props: { data: Record<Series, number[]>; label: string }) {
  const w = 600, h = 180, left = 32, bottom = 20;
  const max = Math.max(1, ...series.flatMap((s) => props.data[s]));
  const x = (i: number) => left + (i / (minutes - 1)) * (w - left - 4);
  const y = (n: number) => 6 + (1 - n / max) * (h - bottom - 6);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={props.label}>
        <line class="axis" x1={left} x2={w} y1={y(0)} y2={y(0)} />
        <line class="axis" x1={left} x2={left} y1={y(max)} y2={y(0)} />
        <text x={left - 4} y={y(max) + 4} text-anchor="end">{max}</text>
        <text x={left - 4} y={y(0) + 4} text-anchor="end">0</text>
        <text x={x(0)} y={h - 4}>−{minutes} min</text>
        <text x={x(minutes / 2)} y={h - 4} text-anchor="middle">−{minutes / 2} min</text>
        <text x={x(minutes - 1)} y={h - 4} text-anchor="end">now</text>
        {series.map((s) => (
          <polyline
            key={s}
            class={`series s-${s}`}
            data-series={s}
            data-values={props.data[s].join(",")}
            fill="none"
            stroke-width={2}
            points={props.data[s].map((n, i) => `${x(i)},${y(n)}`).join(" ")}
          />
        ))}
      </svg>
      <figcaption class="legend">
        {series.map((s) => (
          <span key={s}>
            <span class={`swatch s-${s}`} />
            {s}
          </span>
        ))}
        <span class="subtle">per minute, last hour</span>
      </figcaption>
    </figure>
  );
}

/** The Overview screen. */
export function Overview() {
  const ns = namespace();
  const nsq = ns === "default" ? "" : ns;
  const type = route.value.query.get("type") ?? "";
  const d = useLoad(
    `overview/${ns}`,
    () => withClient((c) => c.runStats({ namespace: ns, minutes })),
    { live: true, everyMs: 10_000 },
  );
  const stats = d.data;
  const rows = stats ? totals(stats) : [];
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <Notice kind="error">{d.error}</Notice>
      <form class="filters" aria-label="Chart of">
        <label>
          Workflow type
          <select
            value={type}
            onChange={(e) =>
              navigate(href("/overview", { ns: nsq, type: e.currentTarget.value }), true)}
          >
            <option value="">every type</option>
            {rows.map((r) => <option key={r.type} value={r.type}>{r.type}</option>)}
          </select>
        </label>
      </form>
      {stats && (
        <Chart
          data={perMinute(stats, type)}
          label={`Runs of ${type || "every type"} begun, completed and failed per minute`}
        />
      )}
      <table class="overview">
        <caption>Runs in the last hour, per type</caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Begun</th>
            <th scope="col">Completed</th>
            <th scope="col">Failed</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.type} data-type={r.type}>
              <td>
                <Link href={href("/overview", { ns: nsq, type: r.type })}>{r.type}</Link>
              </td>
              {series.map((s) => <td key={s} class="num">{r.counts[s]}</td>)}
            </tr>
          ))}
          {stats && rows.length === 0 && (
            <tr>
              <td colSpan={4} class="empty">No runs began or ended in the last hour.</td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
