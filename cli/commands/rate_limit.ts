/** `kagzi rate-limit …`: named rate limits that steps take (`ctx.step(n).rateLimit(name)`). */
import type { NamedRateLimit } from "@kagzi/sdk";
import { type Command, duration, type Group, int } from "../_command.ts";
import { Exit, UsageError } from "../_errors.ts";
import { time } from "../_output.ts";

const columns: [string, (r: NamedRateLimit) => unknown][] = [
  ["NAME", (r) => r.name],
  ["LIMIT", (r) => r.limit],
  ["PERIOD", (r) => `${r.periodMs}ms`],
  ["UPDATED", (r) => time(r.updatedAt)],
];

const json = (r: NamedRateLimit) => ({
  name: r.name,
  namespace: r.namespace,
  limit: r.limit,
  periodMs: r.periodMs,
  createdAt: r.createdAt?.toISOString(),
  updatedAt: r.updatedAt?.toISOString(),
});

const set: Command = {
  name: "set",
  args: "<name>",
  summary: "Create or replace a named rate limit: at most --limit steps begun per --period",
  flags: {
    limit: { type: "string", value: "N", help: "steps begun per period (1-1000000000)" },
    period: { type: "string", value: "D", help: 'the window, e.g. "1s", "1m" or milliseconds' },
  },
  min: 1,
  max: 1,
  async run(rt, v, [name]) {
    if (v.limit === undefined || v.period === undefined) {
      throw new UsageError("rate-limit set needs --limit and --period");
    }
    const limit = int(v, "limit", 1, 1_000_000_000, 1);
    const periodMs = duration(v, "period")!;
    const client = await rt.client();
    rt.out.list([await client.setRateLimit(name, { limit, period: periodMs })], columns, json);
    return Exit.ok;
  },
};

const list: Command = {
  name: "list",
  args: "",
  summary: "List the named rate limits of the namespace",
  flags: {},
  min: 0,
  max: 0,
  async run(rt) {
    const client = await rt.client();
    rt.out.list(await client.listRateLimits(), columns, json);
    return Exit.ok;
  },
};

const get: Command = {
  name: "get",
  args: "<name>",
  summary: "Show one named rate limit",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [name]) {
    const client = await rt.client();
    rt.out.list([await client.getRateLimit(name)], columns, json);
    return Exit.ok;
  },
};

const remove: Command = {
  name: "delete",
  args: "<name>",
  summary: "Delete a named rate limit (steps that ask for it then fail)",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [name]) {
    const client = await rt.client();
    await client.deleteRateLimit(name);
    return Exit.ok;
  },
};

/** The `rate-limit` group. */
export const rateLimitGroup: Group = {
  name: "rate-limit",
  summary: "Named rate limits shared by steps on every worker",
  commands: [set, list, get, remove],
};
