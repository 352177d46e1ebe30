/** `kagzi worker …`: list workers and ask them to drain. */
import type { WorkerSummary } from "@kagzi/sdk";
import { choice, type Command, type Group, int, str } from "../_command.ts";
import { Exit, report } from "../_errors.ts";
import { workerJson } from "../_json.ts";
import { time } from "../_output.ts";

const workerStatuses = ["ONLINE", "DRAINING", "OFFLINE"] as const;

const columns: [string, (w: WorkerSummary) => unknown][] = [
  ["WORKER ID", (w) => w.id],
  ["STATUS", (w) => w.status],
  ["HEALTH", (w) => w.health],
  ["HOST", (w) => w.hostname],
  ["PID", (w) => w.pid || ""],
  ["WORKFLOWS", (w) => w.workflowTypes.map((t) => t.type).join(",")],
  ["ACTIVE", (w) => `${w.activeCount}/${w.maxConcurrent}`],
  ["DONE", (w) => w.completedCount],
  ["FAILED", (w) => w.failedCount],
  ["LAST HEARTBEAT", (w) => time(w.lastHeartbeatAt)],
];

const list: Command = {
  name: "list",
  args: "",
  summary: "List workers with their health",
  flags: {
    status: {
      type: "string",
      value: "S",
      help: "only workers with this status (ONLINE, DRAINING, OFFLINE)",
    },
    type: {
      type: "string",
      value: "T",
      help: "only workers serving this workflow type",
    },
    limit: {
      type: "string",
      value: "N",
      help: "at most N workers (1-10000, default 100)",
    },
  },
  min: 0,
  max: 0,
  async run(rt, v) {
    const status = choice(v, "status", workerStatuses);
    const limit = int(v, "limit", 1, 10_000, 100);
    const client = await rt.client();
    const rows: WorkerSummary[] = [];
    let pageToken = "";
    do {
      const page = await client.listWorkers({
        status,
        type: str(v, "type"),
        pageSize: Math.min(limit - rows.length, 1000),
        pageToken,
      });
      rows.push(...page.workers);
      pageToken = page.nextPageToken;
    } while (pageToken && rows.length < limit);
    rt.out.list(rows.slice(0, limit), columns, workerJson);
    return Exit.ok;
  },
};

const drain: Command = {
  name: "drain",
  args: "<workerId>...",
  summary: "Ask workers to drain: stop polling, finish or release their runs, deregister",
  flags: {},
  min: 1,
  max: Infinity,
  async run(rt, _v, ids) {
    const client = await rt.client();
    const rows: WorkerSummary[] = [];
    let code: number = Exit.ok;
    for (const id of ids) {
      try {
        rows.push(await client.drainWorker(id));
      } catch (err) {
        code = Math.max(code, report(err));
      }
    }
    // Only the errors when none was drained: an empty list on stdout would read as success.
    if (rows.length > 0) rt.out.list(rows, columns.slice(0, 4), workerJson);
    return code;
  },
};

/** The `worker` group. */
export const workerGroup: Group = {
  name: "worker",
  summary: "List workers and drain them",
  commands: [list, drain],
};
