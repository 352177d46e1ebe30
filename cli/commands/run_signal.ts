/** `kagzi run signal`, `kagzi run retry`, `kagzi run rerun`, `kagzi run pause` and `kagzi run resume`. */
import { WorkflowCancelledError, WorkflowFailedError } from "@kagzi/sdk";
import { type Command, duration, jsonFlag, type Runtime, str, type Values } from "../_command.ts";
import { Exit, UsageError } from "../_errors.ts";
import { workflowJson } from "../_json.ts";
import { exitOf, resolveRun } from "./_runs.ts";
import { bulkDetails, bulkFlags, bulkTypeFlag, isBulk, runBulk } from "./run_bulk.ts";

/** `run signal <run> <name>`. */
export const signalCommand: Command = {
  name: "signal",
  args: "<run> <name>",
  summary: "Send a signal to a run (kept in its mailbox until the run waits for it)",
  details: "A finished run refuses signals (PRECONDITION_FAILED, exit 3). A repeated\n" +
    "--idempotency-key stores the signal once.",
  flags: {
    payload: { type: "string", value: "JSON|@file", help: "the payload: JSON text, @file or @-" },
    "idempotency-key": { type: "string", value: "KEY", help: "store the signal once per key" },
  },
  min: 2,
  max: 2,
  async run(rt, v, [id, name]) {
    const payload = await jsonFlag(v, "payload");
    const client = await rt.client();
    const { id: runId } = await resolveRun(client, id, rt.namespace);
    const sent = await client.signal(runId, name, payload, {
      idempotencyKey: str(v, "idempotency-key"),
    });
    rt.out.item([
      ["Run ID", runId],
      ["Signal", name],
      ["Signal ID", sent.signalId],
      ["Already sent", sent.alreadyExists ? "yes (same idempotency key)" : undefined],
    ], { runId, name, ...sent });
    return Exit.ok;
  },
};

const waitFlags = {
  wait: {
    type: "boolean" as const,
    help: "wait for the new run to end; exit 1 if it failed or was cancelled",
  },
  timeout: {
    type: "string" as const,
    value: "DURATION",
    help: "with --wait: give up after this long (exit 3)",
  },
};

/** `run retry <run>`. */
export const retryCommand: Command = {
  name: "retry",
  args: "<run>",
  summary: "Start a new run with the type, version and input of a finished run",
  details: "The new run keeps the workflow id and names the old one as its retriedFromRunId.\n" +
    "An open run is refused (PRECONDITION_FAILED, exit 3). `run rerun --from-step` keeps the\n" +
    "outputs of the steps before a step.",
  flags: waitFlags,
  min: 1,
  max: 1,
  run: (rt, v, [id]) => rerun(rt, v, id, ""),
};

/** `run rerun <run> --from-step NAME`. */
export const rerunCommand: Command = {
  name: "rerun",
  args: "<run> | --status S --type T …",
  summary: "Rerun a finished run from a step, keeping the outputs of the steps before it",
  details: "A new run under the same workflow id (its retriedFromRunId names the old run; the\n" +
    "old run lists it under Reruns). The steps the old run completed before it began\n" +
    "--from-step keep their stored outputs; that step and everything after it run again.\n" +
    "A step name the run does not have is a usage error listing the steps it has (exit 2);\n" +
    "without --from-step it is `run retry`. An open run is refused (exit 3)." + bulkDetails,
  flags: {
    "from-step": { type: "string", value: "NAME", help: "the first step to run again" },
    ...waitFlags,
    type: bulkTypeFlag,
    ...bulkFlags,
  },
  min: 0,
  max: 1,
  run(rt, v, [id]) {
    if (isBulk(v, id, true)) return runBulk(rt, v, "rerun");
    if (id === undefined) throw new UsageError("Give a run, or filter flags for a bulk rerun");
    return rerun(rt, v, id, str(v, "from-step") ?? "");
  },
};

async function rerun(rt: Runtime, v: Values, id: string, fromStep: string): Promise<number> {
  const timeoutMs = duration(v, "timeout");
  const client = await rt.client();
  const { id: runId } = await resolveRun(client, id, rt.namespace);
  const run = await client.rerun(runId, { fromStep });
  const from: [string, string | undefined] = ["From step", fromStep || undefined];
  if (!v.wait) {
    rt.out.item(
      [["Run ID", run.id], ["Workflow ID", run.workflowId], ["Retry of", runId], from],
      {
        runId: run.id,
        workflowId: run.workflowId,
        retriedFromRunId: runId,
        fromStep: fromStep || undefined,
      },
    );
    return Exit.ok;
  }
  await run.result({ timeout: timeoutMs }).catch((err) => {
    if (!(err instanceof WorkflowFailedError || err instanceof WorkflowCancelledError)) throw err;
  });
  const w = await client.get(run.id);
  rt.out.item([
    ["Run ID", w.id],
    ["Retry of", runId],
    from,
    ["Status", w.status],
    ["Output", w.status === "COMPLETED" ? JSON.stringify(w.output) : undefined],
    ["Error", w.error ? `${w.error.code}: ${w.error.message}` : undefined],
  ], workflowJson(w));
  return exitOf(w);
}

const typeFlag = {
  type: "string" as const,
  value: "TYPE",
  help: "the whole workflow type instead of one run",
};

/** The --type of a command given it instead of a run; a usage error for both or neither. */
function typeOnly(v: Values, id: string | undefined): string | undefined {
  const type = str(v, "type");
  if ((type === undefined) === (id === undefined)) {
    throw new UsageError("Give a run or --type TYPE (one of them)");
  }
  return type;
}

/** `run pause <run>`. */
export const pauseCommand: Command = {
  name: "pause",
  args: "<run> | --type TYPE | --status S …",
  summary: "Hold an open run (PAUSED) until `run resume`; or every run of a type",
  details: "Nothing claims a paused run; a running one stops at its next step boundary (the\n" +
    "output of a step in flight is stored; the next step waits for the resume). It keeps its\n" +
    "workflow id, deadline and signals; `run cancel` ends it. An ended or PARKED run is refused\n" +
    "(exit 3).\n" +
    "--type pauses the type's open runs and every claim of it (new runs wait PENDING) until\n" +
    "`run resume --type`." + bulkDetails,
  flags: { type: typeFlag, ...bulkFlags },
  min: 0,
  max: 1,
  async run(rt, v, [id]) {
    if (isBulk(v, id)) return await runBulk(rt, v, "pause");
    const type = typeOnly(v, id);
    const client = await rt.client();
    if (type) {
      const { paused } = await client.pauseType(type);
      rt.out.item([["Type", type], ["Runs paused", String(paused)]], { type, paused });
      return Exit.ok;
    }
    const { id: runId } = await resolveRun(client, id!, rt.namespace);
    const w = await client.pause(runId);
    rt.out.item([["Run ID", w.id], ["Status", w.status]], workflowJson(w));
    return Exit.ok;
  },
};

/** `run resume <run> [--from-here]`. */
export const resumeCommand: Command = {
  name: "resume",
  args: "<run> | --type TYPE | --status S …",
  summary: "Let a PAUSED run, or a PARKED run (its code changed under it), run again",
  details: "A paused run (`run pause`) is due again at once.\n" +
    "A run parks when its replay asks for another step than its history recorded there.\n" +
    "Deploy code that matches its history, then resume it; or resume it --from-here to\n" +
    "accept the code as it is now: the recorded steps it no longer asks for are set aside\n" +
    "(listed as superseded) and the steps it asks for from that point run. Anything but a\n" +
    "PARKED or PAUSED run is refused (PRECONDITION_FAILED, exit 3). `run cancel` ends either.\n" +
    "--type lets a paused type be claimed again and resumes its PAUSED runs." + bulkDetails,
  flags: {
    type: typeFlag,
    ...bulkFlags,
    "from-here": {
      type: "boolean",
      help: "accept the current code from where the run parked (its new steps will run)",
    },
  },
  min: 0,
  max: 1,
  async run(rt, v, [id]) {
    if (isBulk(v, id)) return await runBulk(rt, v, "resume");
    const type = typeOnly(v, id);
    const client = await rt.client();
    if (type) {
      const { resumed } = await client.resumeType(type);
      rt.out.item([["Type", type], ["Runs resumed", String(resumed)]], { type, resumed });
      return Exit.ok;
    }
    const { id: runId } = await resolveRun(client, id!, rt.namespace);
    const w = await client.resume(runId, { fromHere: v["from-here"] === true });
    rt.out.item(
      [["Run ID", w.id], ["Status", w.status], ["From here", v["from-here"] ? "yes" : undefined]],
      { ...workflowJson(w), fromHere: v["from-here"] === true },
    );
    return Exit.ok;
  },
};
