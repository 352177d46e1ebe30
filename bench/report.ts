/** The benchmark's output: the markdown table, the summary lines and bench/results/latest.json. */
import { round, type Row } from "./common.ts";
import { W6_PHASES, type W6Ratios } from "./many_workers.ts";

const cols: [keyof Row, string][] = [
  ["backend", "backend"],
  ["workload", "workload"],
  ["workflowsPerSec", "wf/s"],
  ["stepsPerSec", "steps/s"],
  ["p50", "p50 ms"],
  ["p95", "p95 ms"],
  ["p99", "p99 ms"],
  ["msPerStep", "ms/step"],
  ["rpcsPerWorkflow", "RPCs/wf"],
  ["claimsPerRun", "claims/run"],
  ["matchedPerRun", "matched/run"],
  ["xactsPerWorkflow", "write xacts/wf"],
  ["walBytesPerWorkflow", "WAL B/wf"],
  ["serverRssMiB", "server MiB"],
  ["workerRssMiB", "worker MiB"],
];

export function table(rows: Row[]): string {
  return [
    `| ${cols.map((c) => c[1]).join(" | ")} |`,
    `| ${cols.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${cols.map(([k]) => r[k] ?? "").join(" | ")} |`),
  ].join("\n");
}

/** The lines under the table: Postgres ceiling, W5 / W1, in-process / three-process, W7, W6. */
export function summary(
  rows: Row[],
  ceilings: Record<string, number>,
  w6?: W6Ratios,
): string[] {
  const find = (backend: string, workload: string) =>
    rows.find((r) => r.backend === backend && r.workload === workload);
  const lines: string[] = [];
  const w1 = find("postgres", "W1 completions counted");
  if (ceilings.postgres && w1?.xactsPerWorkflow) {
    const bound = ceilings.postgres / w1.xactsPerWorkflow;
    lines.push(
      `Postgres ceiling: ${ceilings.postgres} single-row update transactions/s (8 clients); ` +
        `÷ ${w1.xactsPerWorkflow} write transactions per workflow = ${
          Math.round(bound)
        } workflows/s; ` +
        `W1 reaches ${Math.round((100 * (w1.workflowsPerSec ?? 0)) / bound)}% of that.`,
    );
  }
  const w5 = find("postgres", "W5 backlog");
  const w1again = find("postgres", "W1 again");
  if (w1 && w5 && w1again) {
    const base = ((w1.workflowsPerSec ?? 0) + (w1again.workflowsPerSec ?? 0)) / 2;
    lines.push(
      `W5 / W1 throughput: ${round((w5.workflowsPerSec ?? 0) / base, 2)} ` +
        `(W1 before and after W5: ${w1.workflowsPerSec} and ${w1again.workflowsPerSec} wf/s)`,
    );
  }
  for (const backend of ["postgres", "embedded"]) {
    const [t1, i1] = [
      find(backend, "W1 results awaited"),
      find(backend, "W1 results awaited (in-process)"),
    ];
    const [t2, i2] = [find(backend, "W2 latency"), find(backend, "W2 latency (in-process)")];
    if (t1 && i1 && t2 && i2) {
      lines.push(
        `${backend} in-process / three-process: W1 ${
          round((i1.workflowsPerSec ?? 0) / (t1.workflowsPerSec ?? 1), 2)
        } (${i1.workflowsPerSec} vs ${t1.workflowsPerSec} wf/s), ` +
          `W2 p50 ${round((i2.p50 ?? 0) / (t2.p50 ?? 1), 2)} (${i2.p50} vs ${t2.p50} ms)`,
      );
    }
  }
  for (const backend of ["postgres", "embedded"]) {
    for (const suffix of ["", " (in-process)"]) {
      const a = find(backend, `W1 results awaited${suffix}`);
      const c = find(backend, `W1 completions counted${suffix}`);
      if (a && c) {
        lines.push(
          `${backend}${suffix} W1 results awaited / completions counted: ${
            round((a.workflowsPerSec ?? 0) / (c.workflowsPerSec ?? 1), 2)
          } (${a.workflowsPerSec} vs ${c.workflowsPerSec} wf/s)`,
        );
      }
    }
    const [plain, limited] = [find(backend, "W1 completions counted"), find(backend, "W7 limited")];
    if (plain && limited) {
      lines.push(
        `${backend} W7 (per-key limit 1 over 1,000 keys + global 50) / W1 completions counted: ${
          round((limited.workflowsPerSec ?? 0) / (plain.workflowsPerSec ?? 1), 2)
        } (${limited.workflowsPerSec} vs ${plain.workflowsPerSec} wf/s)`,
      );
    }
  }
  const many = rows.filter((r) => r.setup === "many-workers");
  if (many.length >= 2 && w6) {
    const phase = (r: Row) => r.workload.replace(/^W6 | #\d+$/g, "");
    const [a, b, c] = W6_PHASES.map((_, i) => many.filter((_, j) => j % W6_PHASES.length === i));
    const wfs = (xs: Row[]) => xs.map((r) => r.workflowsPerSec).join(", ");
    const per = w6.ratios.length > 1 ? ` (by round ${w6.ratios.join(", ")})` : "";
    lines.push(
      `W6 many workers: ${phase(b[0])} / ${phase(a[0])} throughput = ${w6.ratio}${per} ` +
        `(${wfs(b)} vs ${wfs(a)} wf/s); claims/run ` +
        `${b.map((r) => r.claimsPerRun).join(", ")} vs ${a.map((r) => r.claimsPerRun).join(", ")}`,
    );
    if (c.length) {
      lines.push(
        `W6 control: ${phase(c[0])} / ${phase(a[0])} throughput = ${w6.controlRatio} ` +
          `(${wfs(c)} vs ${wfs(a)} wf/s): the same workers without twenty processes`,
      );
    }
  }
  return lines;
}

/** OS, cores, CPU model, memory and Deno version of this machine. */
export function machine(): Record<string, unknown> {
  let cpu = "unknown";
  let memMiB: number | undefined;
  try {
    cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpu;
    const kb = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB/m)?.[1];
    if (kb) memMiB = Math.round(Number(kb) / 1024);
  } catch {
    // not Linux
  }
  return {
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    arch: Deno.build.arch,
    cores: navigator.hardwareConcurrency,
    cpu,
    memMiB,
    deno: Deno.version.deno,
  };
}

export async function writeJson(data: Record<string, unknown>): Promise<string> {
  const dir = new URL("results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const file = new URL("latest.json", dir);
  await Deno.writeTextFile(file, JSON.stringify(data, null, 2) + "\n");
  return file.pathname;
}
