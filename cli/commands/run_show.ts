/** `kagzi run show <runId> [--follow]`: a run with its steps, attempts, errors and waits. */
import type { Kagzi, StepAttemptInfo, Workflow } from "@kagzi/sdk";
import type { Command, Runtime } from "../_command.ts";
import { Exit } from "../_errors.ts";
import { errorJson, stepJson, workflowJson } from "../_json.ts";
import { span, time } from "../_output.ts";
import { exitOf, terminal } from "./_runs.ts";

/** Something a suspended run waits for, derived from its steps. */
interface Wait {
  kind: "sleep" | "retry";
  name: string;
  occurrence: number;
  until: Date | undefined;
}

/** The sleeps and step retries a run that has not ended is waiting for. */
function waitsOf(w: Workflow, steps: StepAttemptInfo[]): Wait[] {
  if (terminal(w.status)) return [];
  const latest = new Map<string, StepAttemptInfo>();
  for (const s of steps) latest.set(`${s.kind}:${s.name}#${s.occurrence}`, s);
  const waits: Wait[] = [];
  for (const s of latest.values()) {
    if (s.kind === "sleep" && s.status === "SLEEPING") {
      waits.push({
        kind: "sleep",
        name: s.name,
        occurrence: s.occurrence,
        until: s.wakeUpAt,
      });
    } else if (s.status === "FAILED" && s.retryAt) {
      waits.push({
        kind: "retry",
        name: s.name,
        occurrence: s.occurrence,
        until: s.retryAt,
      });
    }
  }
  return waits;
}

function detail(s: StepAttemptInfo): string {
  if (s.error) {
    return `${s.error.message}${s.retryAt ? ` (retry at ${time(s.retryAt)})` : ""}`;
  }
  if (s.kind === "sleep" && s.wakeUpAt) return `until ${time(s.wakeUpAt)}`;
  return "";
}

function stepLabel(s: StepAttemptInfo): string {
  return `${s.name}#${s.occurrence}`;
}

async function read(client: Kagzi, runId: string) {
  const [run, steps] = await Promise.all([
    client.get(runId),
    client.listSteps(runId),
  ]);
  return { run, steps };
}

function print(
  rt: Runtime,
  run: Workflow,
  steps: StepAttemptInfo[],
  follow: boolean,
): void {
  const waits = waitsOf(run, steps);
  const json = {
    ...workflowJson(run, true),
    steps: steps.map(stepJson),
    waits: waits.map((w) => ({ ...w })),
  };
  if (rt.out.format !== "table") {
    // Followed, every line is one JSON object: the run first, then its events.
    if (follow) rt.out.event("", { event: "run", ...json });
    else rt.out.json(json);
    return;
  }
  rt.out.item([
    ["Run ID", run.id],
    ["Workflow ID", run.workflowId],
    ["Namespace", run.namespace],
    ["Type", run.version ? `${run.type} (version ${run.version})` : run.type],
    ["Status", run.status],
    ["Attempts", run.attempts],
    ["Created", time(run.createdAt)],
    ["Started", time(run.startedAt)],
    [
      "Finished",
      run.finishedAt &&
      `${time(run.finishedAt)} (took ${span(run.createdAt, run.finishedAt)})`,
    ],
    ["Wakes up", time(run.wakeUpAt)],
    ["Deadline", time(run.deadlineAt)],
    ["Schedule", run.scheduleId],
    ["Worker", run.workerId],
    ["Input", JSON.stringify(run.input)],
    [
      "Output",
      run.status === "COMPLETED" ? JSON.stringify(run.output) : undefined,
    ],
    ["Error", run.error && `${run.error.code}: ${run.error.message}`],
  ], json);
  rt.out.heading("Steps");
  rt.out.list(steps, [
    ["STEP", stepLabel],
    ["KIND", (s) => s.kind],
    ["ATTEMPT", (s) => s.attempt],
    ["STATUS", (s) => s.status],
    ["STARTED", (s) => time(s.startedAt)],
    [
      "TOOK",
      (s) => (s.kind === "function" ? span(s.startedAt, s.finishedAt) : ""),
    ],
    ["DETAIL", detail],
  ], stepJson);
  if (waits.length) {
    rt.out.heading("Waiting for");
    rt.out.list(waits, [
      ["KIND", (w) => w.kind],
      ["NAME", (w) => `${w.name}#${w.occurrence}`],
      ["UNTIL", (w) => time(w.until)],
    ], (w) => w);
  }
}

/** `run show`. */
export const showCommand: Command = {
  name: "show",
  args: "<runId>",
  summary: "Show a run with its steps, attempts, errors and waits",
  details: "With --follow, prints each new step attempt and status change until the run ends,\n" +
    "then exits like `run result` (0 completed, 1 failed or cancelled). In JSON formats every\n" +
    'line is then one object: {"event":"run",…} first, then "step" and "status" events.',
  flags: {
    follow: {
      type: "boolean",
      short: "f",
      help: "keep printing changes until the run ends",
    },
  },
  min: 1,
  max: 1,
  async run(rt, v, [runId]) {
    const client = await rt.client();
    let { run, steps } = await read(client, runId);
    const follow = v.follow === true;
    print(rt, run, steps, follow);
    if (!follow) return Exit.ok;
    const seen = new Map(
      steps.map((s) => [`${s.kind}:${stepLabel(s)}/${s.attempt}`, s.status]),
    );
    let status = run.status;
    while (!terminal(status)) {
      await new Promise((r) => setTimeout(r, 500));
      ({ run, steps } = await read(client, runId));
      for (const s of steps) {
        const key = `${s.kind}:${stepLabel(s)}/${s.attempt}`;
        if (seen.get(key) === s.status) continue;
        seen.set(key, s.status);
        const d = detail(s);
        rt.out.event(
          `${time(new Date())}  ${s.kind} ${stepLabel(s)} attempt ${s.attempt} ${s.status}` +
            (d ? `: ${d}` : ""),
          { event: "step", ...stepJson(s) },
        );
      }
      if (run.status !== status) {
        status = run.status;
        rt.out.event(
          `${time(new Date())}  run ${status}` +
            (run.status === "COMPLETED" ? `: ${JSON.stringify(run.output)}` : "") +
            (run.error ? `: ${run.error.message}` : ""),
          {
            event: "status",
            runId: run.id,
            status,
            output: run.status === "COMPLETED" ? run.output : undefined,
            error: errorJson(run.error),
          },
        );
      }
    }
    return exitOf(run);
  },
};
