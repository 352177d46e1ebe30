/** `kagzi schedule …`: list, show, create, pause, resume, trigger and delete cron schedules. */
import type { Schedule } from "@kagzi/sdk";
import { type Command, type Group, int, jsonFlag, type Runtime, str } from "../_command.ts";
import { Exit, UsageError } from "../_errors.ts";
import { scheduleJson } from "../_json.ts";
import { time } from "../_output.ts";

function printSchedule(rt: Runtime, s: Schedule): void {
  rt.out.item([
    ["Schedule", s.id],
    ["Namespace", s.namespace],
    [
      "Workflow",
      s.version ? `${s.workflowType} (version ${s.version})` : s.workflowType,
    ],
    ["Cron", s.timezone ? `${s.cron} (${s.timezone})` : s.cron],
    ["Enabled", s.enabled ? "yes" : "no (paused)"],
    ["Catch-up", s.maxCatchup],
    ["Input", JSON.stringify(s.input)],
    ["Next fire", time(s.nextFireAt)],
    ["Last fired", time(s.lastFiredAt)],
    ["Created", time(s.createdAt)],
    ["Updated", time(s.updatedAt)],
  ], scheduleJson(s));
}

const one = (
  name: string,
  summary: string,
  act: (rt: Runtime, id: string) => Promise<Schedule>,
): Command => ({
  name,
  args: "<scheduleId>",
  summary,
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [id]) {
    printSchedule(rt, await act(rt, id));
    return Exit.ok;
  },
});

const list: Command = {
  name: "list",
  args: "",
  summary: "List schedules in id order",
  flags: {
    type: {
      type: "string",
      value: "T",
      help: "only schedules of this workflow type",
    },
    limit: {
      type: "string",
      value: "N",
      help: "at most N schedules (1-10000, default 100)",
    },
  },
  min: 0,
  max: 0,
  async run(rt, v) {
    const limit = int(v, "limit", 1, 10_000, 100);
    const client = await rt.client();
    const rows: Schedule[] = [];
    let pageToken = "";
    do {
      const page = await client.listSchedules({
        type: str(v, "type"),
        pageSize: Math.min(limit - rows.length, 1000),
        pageToken,
      });
      rows.push(...page.schedules);
      pageToken = page.nextPageToken;
    } while (pageToken && rows.length < limit);
    rt.out.list(rows.slice(0, limit), [
      ["SCHEDULE", (s) => s.id],
      ["WORKFLOW", (s) => s.workflowType],
      ["CRON", (s) => s.cron],
      ["TIME ZONE", (s) => s.timezone || "UTC"],
      ["ENABLED", (s) => (s.enabled ? "yes" : "no")],
      ["NEXT FIRE", (s) => time(s.nextFireAt)],
      ["LAST FIRED", (s) => time(s.lastFiredAt)],
    ], scheduleJson);
    return Exit.ok;
  },
};

const create: Command = {
  name: "create",
  args: "<scheduleId>",
  summary: "Create (or replace) a cron schedule",
  flags: {
    workflow: {
      type: "string",
      value: "TYPE",
      help: "the workflow type each fire starts (required)",
    },
    cron: {
      type: "string",
      value: "EXPR",
      help: 'cron expression, e.g. "0 6 * * *" (required)',
    },
    timezone: {
      type: "string",
      value: "TZ",
      help: "IANA time zone (default UTC)",
    },
    input: {
      type: "string",
      value: "JSON|@file",
      help: "the input of every run",
    },
    version: {
      type: "string",
      value: "V",
      help: "the version every run is pinned to",
    },
    catchup: {
      type: "string",
      value: "N",
      help: "missed fires to start after downtime (default 0)",
    },
    disabled: { type: "boolean", help: "create it paused" },
  },
  min: 1,
  max: 1,
  async run(rt, v, [id]) {
    for (const required of ["workflow", "cron"]) {
      if (!str(v, required)) {
        throw new UsageError(
          `--${required} is required`,
          "kagzi schedule create",
        );
      }
    }
    const input = await jsonFlag(v, "input");
    const catchup = int(v, "catchup", 0, 1000, 0);
    const call = (await rt.client()).schedule(id).workflow(str(v, "workflow")!)
      .cron(str(v, "cron")!).input(input).catchup(catchup).enabled(
        v.disabled !== true,
      );
    if (str(v, "timezone")) call.timezone(str(v, "timezone")!);
    if (str(v, "version")) call.version(str(v, "version")!);
    printSchedule(rt, await call);
    return Exit.ok;
  },
};

const trigger: Command = {
  name: "trigger",
  args: "<scheduleId>",
  summary: "Start a run of the schedule's workflow now, with its input and version",
  details: "The run's workflow id is \"<scheduleId>@manual-<time>\"; the schedule's own fire\n" +
    "times do not change.",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [id]) {
    const client = await rt.client();
    const s = await client.getSchedule(id);
    const call = client.start(s.workflowType).input(s.input)
      .id(`${s.id}@manual-${new Date().toISOString()}`);
    if (s.version) call.version(s.version);
    const run = await call;
    rt.out.item([["Run ID", run.id], ["Workflow ID", run.workflowId]], {
      runId: run.id,
      workflowId: run.workflowId,
      scheduleId: s.id,
    });
    return Exit.ok;
  },
};

const remove: Command = {
  name: "delete",
  args: "<scheduleId>",
  summary: "Delete a schedule (the runs it started are kept)",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [id]) {
    await (await rt.client()).deleteSchedule(id);
    rt.out.item([["Deleted", id]], { deleted: id });
    return Exit.ok;
  },
};

/** The `schedule` group. */
export const scheduleGroup: Group = {
  name: "schedule",
  summary: "Manage cron schedules",
  commands: [
    list,
    one(
      "show",
      "Show a schedule with its next and last fire times",
      async (rt, id) => await (await rt.client()).getSchedule(id),
    ),
    create,
    one(
      "pause",
      "Stop a schedule from firing",
      async (rt, id) => await (await rt.client()).updateSchedule(id, { enabled: false }),
    ),
    one(
      "resume",
      "Let a paused schedule fire again, from now on",
      async (rt, id) => await (await rt.client()).updateSchedule(id, { enabled: true }),
    ),
    trigger,
    remove,
  ],
};
