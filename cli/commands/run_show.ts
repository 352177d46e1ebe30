/** `kagzi run show <run> [--follow]`: a run with its steps, attempts, errors and waits. */
import {
  isEnded,
  type Kagzi,
  type ParkedInfo,
  type SignalInfo,
  type StepAttemptInfo,
  type StepRefInfo,
  type Workflow,
} from "@kagzi/sdk";
import type { Command, Runtime } from "../_command.ts";
import { Exit } from "../_errors.ts";
import { errorJson, stepJson, workflowJson } from "../_json.ts";
import { span, time } from "../_output.ts";
import { exitOf, resolveRun } from "./_runs.ts";

function detail(s: StepAttemptInfo): string {
  if (s.error) {
    return `${s.error.message}${s.retryAt ? ` (retry at ${time(s.retryAt)})` : ""}`;
  }
  if (s.kind === "sleep" && s.wakeUpAt) return `until ${time(s.wakeUpAt)}`;
  return "";
}

function stepLabel(s: StepAttemptInfo): string {
  return `${s.name}#${s.occurrence}${s.supersededAt ? " (superseded)" : ""}`;
}

function refText(r: StepRefInfo): string {
  return `${r.kind} "${r.name}"#${r.occurrence}`;
}

function parkedText(p: ParkedInfo): string {
  return `since ${time(p.at)}: its history has ${refText(p.expected)}, the code asked for ` +
    `${refText(p.asked)}. Deploy matching code and \`kagzi run resume\`, or ` +
    "`kagzi run resume --from-here` to accept the new code (its new steps run), or cancel";
}

function unservedText(w: Workflow): string {
  const last = w.unserved?.lastServedAt;
  return `no online worker serves ${w.type}${w.version ? ` version ${w.version}` : ""} ` +
    (last ? `since ${time(last)}` : "(none ever registered it)");
}

/**
 * The run, then its steps and signals: read after the run, they hold everything stored before
 * its status (read together, a run that ended between the reads would show its end without its
 * last steps, and `--follow` would stop without printing them).
 */
async function read(client: Kagzi, runId: string) {
  const run = await client.get(runId);
  const [steps, signals] = await Promise.all([client.listSteps(runId), client.listSignals(runId)]);
  return { run, steps, signals };
}

function signalJson(s: SignalInfo): Record<string, unknown> {
  return { ...s };
}

function print(
  rt: Runtime,
  { run, steps, signals }: { run: Workflow; steps: StepAttemptInfo[]; signals: SignalInfo[] },
  follow: boolean,
): void {
  const waits = run.waits;
  const json = {
    ...workflowJson(run, true),
    waits: waits.map((w) => ({ ...w })),
    steps: steps.map(stepJson),
    signals: signals.map(signalJson),
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
    ["Parent run", run.parentRunId],
    ["Retry of", run.retriedFromRunId],
    ["Reruns", run.reruns.length ? run.reruns.join(", ") : undefined],
    [
      "Tags",
      Object.keys(run.tags).length
        ? Object.entries(run.tags).map(([k, x]) => `${k}=${x}`).join(", ")
        : undefined,
    ],
    ["Worker", run.workerId],
    ["Input", JSON.stringify(run.input)],
    [
      "Output",
      run.status === "COMPLETED" ? JSON.stringify(run.output) : undefined,
    ],
    ["Error", run.error && `${run.error.code}: ${run.error.message}`],
    ["Parked", run.parked && parkedText(run.parked)],
    ["Unserved", run.unserved && unservedText(run)],
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
      ["NAME", (w) => w.name],
      ["UNTIL", (w) => time(w.until) || "(no limit)"],
      ["CHILD RUN", (w) => w.childRunId],
    ], (w) => w);
  }
  if (signals.length) {
    rt.out.heading("Signals");
    rt.out.list(signals, [
      ["SIGNAL", (s) => s.name],
      ["SENT", (s) => time(s.sentAt)],
      ["CONSUMED", (s) => time(s.consumedAt) || "(pending)"],
      ["PAYLOAD", (s) => JSON.stringify(s.payload)],
    ], signalJson);
  }
}

/** `run show`. */
export const showCommand: Command = {
  name: "show",
  args: "<run>",
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
  async run(rt, v, [id]) {
    const client = await rt.client();
    const { id: runId } = await resolveRun(client, id, rt.namespace);
    let view = await read(client, runId);
    let { run, steps } = view;
    const follow = v.follow === true;
    print(rt, view, follow);
    if (!follow) return Exit.ok;
    const seen = new Map(
      steps.map((s) => [`${s.kind}:${stepLabel(s)}/${s.attempt}`, s.status]),
    );
    let status = run.status;
    while (!isEnded(status)) {
      await new Promise((r) => setTimeout(r, 500));
      view = await read(client, runId);
      ({ run, steps } = view);
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
