/** `kagzi run …`: start, list, show, result and cancel workflow runs. */
import {
  type OnDuplicate,
  type Workflow,
  WORKFLOW_STATUSES,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "@kagzi/sdk";
import {
  choice,
  type Command,
  duration,
  type Group,
  int,
  jsonFlag,
  type Runtime,
  str,
} from "../_command.ts";
import { Exit, report, UsageError } from "../_errors.ts";
import { errorJson, workflowJson } from "../_json.ts";
import { time } from "../_output.ts";
import { showCommand } from "./run_show.ts";
import { streamCommand } from "./run_stream.ts";
import {
  pauseCommand,
  rerunCommand,
  resumeCommand,
  retryCommand,
  signalCommand,
} from "./run_signal.ts";
import { exitOf, resolveRun, tagsFlag, waitForEnd } from "./_runs.ts";
import { bulkDetails, bulkFlags, bulkTypeFlag, isBulk, runBulk } from "./run_bulk.ts";

/** Prints a run that ended: its output or error. */
function printEnded(
  rt: Runtime,
  w: Workflow,
  extra: Record<string, unknown> = {},
): void {
  rt.out.item([
    ["Run ID", w.id],
    ["Workflow ID", w.workflowId],
    ["Type", w.type],
    ["Status", w.status],
    ["Output", w.status === "COMPLETED" ? JSON.stringify(w.output) : undefined],
    ["Error", w.error ? `${w.error.code}: ${w.error.message}` : undefined],
  ], { ...workflowJson(w), ...extra });
}

const timeoutFlag = {
  type: "string" as const,
  value: "DURATION",
  help: 'give up waiting after this long, e.g. "30s" or "5m" (exit 3)',
};

const onDuplicateModes: readonly OnDuplicate[] = [
  "return-existing",
  "allow-after-failure",
  "allow-after-end",
  "fail",
];

const start: Command = {
  name: "start",
  args: "<type>",
  summary: "Start a run of a workflow type",
  flags: {
    input: {
      type: "string",
      value: "JSON|@file",
      help: "the input: JSON text, @file or @- (stdin)",
    },
    id: {
      type: "string",
      value: "KEY",
      help: "idempotency key: starting it again returns its run while that is retained",
    },
    tags: {
      type: "string",
      value: "K=V[,K=V]",
      help: "searchable tags of the run (run list --tag finds it)",
    },
    "on-duplicate": {
      type: "string",
      value: "MODE",
      help: "when a run with --id is retained: return-existing (default), " +
        "allow-after-failure, allow-after-end or fail",
    },
    version: {
      type: "string",
      value: "V",
      help: "the version of the workflow type to run",
    },
    wait: {
      type: "boolean",
      help: "wait for the end and print it; exit 1 if it failed or was cancelled",
    },
    timeout: timeoutFlag,
  },
  min: 1,
  max: 1,
  async run(rt, v, [type]) {
    const input = await jsonFlag(v, "input");
    const timeoutMs = duration(v, "timeout");
    const client = await rt.client();
    const call = client.start(type).input(input);
    if (str(v, "id")) call.id(str(v, "id")!);
    if (str(v, "version")) call.version(str(v, "version")!);
    const tags = tagsFlag(v, "tags");
    if (tags) call.tags(tags);
    const mode = str(v, "on-duplicate");
    if (mode !== undefined) {
      if (!onDuplicateModes.includes(mode as OnDuplicate)) {
        throw new UsageError(
          `Invalid --on-duplicate "${mode}": use one of ${onDuplicateModes.join(", ")}`,
        );
      }
      call.onDuplicate(mode as OnDuplicate);
    }
    const run = await call;
    // Not an error: the run is stored and waits; say why it may wait long.
    if (run.warning) console.error(`kagzi: warning: ${run.warning}`);
    if (!v.wait) {
      rt.out.item([
        ["Run ID", run.id],
        ["Workflow ID", run.workflowId],
        [
          "Already existed",
          run.alreadyExists ? "yes (the retained run with this id)" : undefined,
        ],
      ], {
        runId: run.id,
        workflowId: run.workflowId,
        alreadyExists: run.alreadyExists,
        warning: run.warning,
      });
      return Exit.ok;
    }
    // Long-polls the server; the run's end itself is printed from the stored record.
    await run.result({ timeout: timeoutMs }).catch((err) => {
      if (
        !(err instanceof WorkflowFailedError ||
          err instanceof WorkflowCancelledError)
      ) throw err;
    });
    const w = await client.get(run.id);
    printEnded(rt, w, { alreadyExists: run.alreadyExists });
    return exitOf(w);
  },
};

const list: Command = {
  name: "list",
  args: "",
  summary: "List runs, newest first",
  flags: {
    status: {
      type: "string",
      value: "S",
      help: `only runs with this status (${WORKFLOW_STATUSES.join(", ")})`,
    },
    type: {
      type: "string",
      value: "T",
      help: "only runs of this workflow type",
    },
    "workflow-id": {
      type: "string",
      value: "KEY",
      help: "only runs with this workflow id",
    },
    parent: {
      type: "string",
      value: "RUN",
      help: "only children of this run (a run id or a workflow id)",
    },
    tag: {
      type: "string",
      value: "K=V[,K=V]",
      help: "only runs carrying every one of these tags",
    },
    limit: {
      type: "string",
      value: "N",
      help: "at most N runs (1-10000, default 20)",
    },
  },
  min: 0,
  max: 0,
  async run(rt, v) {
    const status = choice(v, "status", WORKFLOW_STATUSES);
    const limit = int(v, "limit", 1, 10_000, 20);
    const client = await rt.client();
    const call = client.list().pageSize(Math.min(limit, 1000));
    const parent = str(v, "parent");
    if (parent) call.parent((await resolveRun(client, parent, rt.namespace)).id);
    if (status) call.status(status);
    if (str(v, "type")) call.type(str(v, "type")!);
    if (str(v, "workflow-id")) call.workflowId(str(v, "workflow-id")!);
    for (const [k, value] of Object.entries(tagsFlag(v, "tag") ?? {})) call.tag(k, value);
    const rows: Workflow[] = [];
    for await (const w of call) {
      rows.push(w);
      if (rows.length >= limit) break;
    }
    rt.out.list(rows, [
      ["RUN ID", (w) => w.id],
      ["TYPE", (w) => w.type],
      ["STATUS", (w) => w.status],
      ["ATTEMPTS", (w) => w.attempts],
      ["CREATED", (w) => time(w.createdAt)],
      ["FINISHED", (w) => time(w.finishedAt)],
      ["WORKFLOW ID", (w) => w.workflowId],
    ], (w) => workflowJson(w));
    return Exit.ok;
  },
};

const result: Command = {
  name: "result",
  args: "<run>",
  summary: "Wait for a run to end and print its output",
  details: "Prints the output as JSON and exits 0 when the run completed; prints the error to\n" +
    "stderr and exits 1 when it failed or was cancelled.",
  flags: { timeout: timeoutFlag },
  min: 1,
  max: 1,
  async run(rt, v, [id]) {
    const timeoutMs = duration(v, "timeout");
    const client = await rt.client();
    const { id: runId } = await resolveRun(client, id, rt.namespace);
    const w = await waitForEnd(client, runId, timeoutMs);
    if (w.status === "COMPLETED") rt.out.json(w.output);
    return exitOf(w);
  },
};

const cancel: Command = {
  name: "cancel",
  args: "<run>... | --status S --type T …",
  summary: "Cancel runs that have not ended",
  details: "Each run given is cancelled; ended runs are refused (exit 3)." + bulkDetails,
  flags: {
    reason: { type: "string", value: "TEXT", help: "why; stored with the run" },
    type: bulkTypeFlag,
    ...bulkFlags,
  },
  min: 0,
  max: Infinity,
  async run(rt, v, ids) {
    if (isBulk(v, ids[0], true)) return await runBulk(rt, v, "cancel");
    if (!ids.length) throw new UsageError("Give runs, or filter flags for a bulk cancel");
    const client = await rt.client();
    const rows: Workflow[] = [];
    let code: number = Exit.ok;
    for (const id of ids) {
      try {
        const { id: runId } = await resolveRun(client, id, rt.namespace);
        rows.push(await client.cancel(runId).reason(str(v, "reason") ?? ""));
      } catch (err) {
        code = Math.max(code, report(err));
      }
    }
    rt.out.list(
      rows,
      [["RUN ID", (w) => w.id], ["STATUS", (w) => w.status]],
      (w) => ({
        runId: w.id,
        status: w.status,
        error: errorJson(w.error),
      }),
    );
    return code;
  },
};

/** The `run` group. */
export const runGroup: Group = {
  name: "run",
  summary: "Start, inspect, wait for, cancel, signal, follow, retry and resume workflow runs",
  note: "<run> is a run id, or a workflow id standing for its newest run (the open one, if any).",
  commands: [
    start,
    list,
    showCommand,
    result,
    cancel,
    signalCommand,
    streamCommand,
    retryCommand,
    rerunCommand,
    pauseCommand,
    resumeCommand,
  ],
};
