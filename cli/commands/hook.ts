/** `kagzi hook …` (create, list, delete webhook endpoints) and `kagzi event …` (emit, list). */
import type { EventInfo, HookInfo } from "@kagzi/sdk";
import { type Command, type Group, int, jsonFlag, type Runtime, str } from "../_command.ts";
import { Exit, UsageError } from "../_errors.ts";
import { time } from "../_output.ts";

const hookJson = (h: HookInfo) => ({ ...h });
const eventJson = (e: EventInfo) => ({ ...e, data: e.data });

function printHook(rt: Runtime, h: HookInfo): void {
  rt.out.item([
    ["Hook", h.name],
    ["Namespace", h.namespace],
    ["Starts", h.workflow ? `a run of ${h.workflow}` : `event ${h.event}`],
    ["POST to", `${rt.address.replace(/\/$/, "")}${h.path}`],
    ["Secret", `sha256 ${h.secretHint}…`],
    ["Created", time(h.createdAt)],
    ["Updated", time(h.updatedAt)],
  ], hookJson(h));
}

/** The secret of --secret VALUE or --secret-file PATH. */
async function secretOf(v: Record<string, string | boolean | undefined>): Promise<string> {
  const file = str(v, "secret-file");
  if (file !== undefined) {
    try {
      return (await Deno.readTextFile(file)).trim();
    } catch (err) {
      throw new UsageError(`Cannot read --secret-file "${file}": ${(err as Error).message}`);
    }
  }
  const secret = str(v, "secret");
  if (!secret) throw new UsageError("--secret or --secret-file is required", "kagzi hook create");
  return secret;
}

const createHook: Command = {
  name: "create",
  args: "<name>",
  summary: "Create (or replace) a webhook: a signed POST starts a run, or emits an event",
  details: "Deliveries POST JSON to /v1/hooks/<namespace>/<name> with the header\n" +
    "X-Kagzi-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>.",
  flags: {
    workflow: { type: "string", value: "TYPE", help: "start a run of this workflow type" },
    event: { type: "string", value: "NAME", help: "emit this event instead" },
    secret: { type: "string", value: "S", help: "the HMAC key (or --secret-file)" },
    "secret-file": { type: "string", value: "PATH", help: "read the HMAC key from a file" },
  },
  min: 1,
  max: 1,
  async run(rt, v, [name]) {
    const secret = await secretOf(v);
    const hook = await (await rt.client()).createHook(name, {
      workflow: str(v, "workflow"),
      event: str(v, "event"),
      secret,
    });
    printHook(rt, hook);
    return Exit.ok;
  },
};

const listHooks: Command = {
  name: "list",
  args: "",
  summary: "List webhooks (never their secrets)",
  flags: {},
  min: 0,
  max: 0,
  async run(rt) {
    const hooks = await (await rt.client()).listHooks();
    rt.out.list(hooks, [
      ["HOOK", (h) => h.name],
      ["STARTS", (h) => h.workflow ?? `event ${h.event}`],
      ["PATH", (h) => h.path],
      ["SECRET", (h) => h.secretHint],
      ["UPDATED", (h) => time(h.updatedAt)],
    ], hookJson);
    return Exit.ok;
  },
};

const deleteHook: Command = {
  name: "delete",
  args: "<name>",
  summary: "Delete a webhook; later deliveries are refused (404)",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [name]) {
    await (await rt.client()).deleteHook(name);
    rt.out.item([["Deleted", name]], { deleted: name });
    return Exit.ok;
  },
};

/** The `hook` group. */
export const hookGroup: Group = {
  name: "hook",
  summary: "Manage webhook endpoints that start runs",
  commands: [createHook, listHooks, deleteHook],
};

const emit: Command = {
  name: "emit",
  args: "<name>",
  summary: "Emit an event: one run of every workflow type subscribed to it",
  flags: {
    data: { type: "string", value: "JSON|@file", help: "the event's data (each run's input)" },
    id: { type: "string", value: "ID", help: "the event id: emitting it again starts nothing" },
  },
  min: 1,
  max: 1,
  async run(rt, v, [name]) {
    const e = await (await rt.client()).emit(name, await jsonFlag(v, "data"), { id: str(v, "id") });
    rt.out.item([
      ["Event", `${e.name} ${e.id}`],
      ["Already emitted", e.alreadyExists ? "yes (nothing new started)" : ""],
      ["Runs", e.runs.map((r) => `${r.workflowType} ${r.runId}`).join("\n") || "(none)"],
    ], eventJson(e));
    return Exit.ok;
  },
};

const listEvents: Command = {
  name: "list",
  args: "",
  summary: "List events, newest first, with the runs each started",
  flags: {
    name: { type: "string", value: "NAME", help: "only events of this name" },
    limit: { type: "string", value: "N", help: "at most N events (1-1000, default 50)" },
  },
  min: 0,
  max: 0,
  async run(rt, v) {
    const page = await (await rt.client()).listEvents({
      name: str(v, "name"),
      pageSize: int(v, "limit", 1, 1000, 50),
    });
    rt.out.list(page.events, [
      ["EVENT", (e) => e.name],
      ["ID", (e) => e.id],
      ["RUNS", (e) => e.runs.map((r) => `${r.workflowType}:${r.runId.slice(0, 8)}`).join(" ")],
      ["EMITTED", (e) => time(e.createdAt)],
    ], eventJson);
    return Exit.ok;
  },
};

/** The `event` group. */
export const eventGroup: Group = {
  name: "event",
  summary: "Emit and list events",
  commands: [emit, listEvents],
};
