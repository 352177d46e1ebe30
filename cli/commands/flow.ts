/** `kagzi flow show TYPE`: the flow control stored for a workflow type and its keys in use. */
import type { ConcurrencyKeyUse, FlowControlRegistration } from "@kagzi/sdk";
import type { Command, Group } from "../_command.ts";
import { Exit } from "../_errors.ts";
import { time } from "../_output.ts";

/** One line per limit of a registration: "concurrency input.customerId ≤ 1", … */
function limits(r: FlowControlRegistration): string[] {
  const key = (k?: string) => k ?? "(all runs)";
  return [
    ...r.concurrency.map((c) => `concurrency ${key(c.key)} ≤ ${c.limit} open`),
    ...(r.rateLimit
      ? [`rate limit ${key(r.rateLimit.key)} ≤ ${r.rateLimit.limit} per ${r.rateLimit.period}`]
      : []),
    ...(r.debounce
      ? [
        `debounce ${key(r.debounce.key)} ${r.debounce.period}` +
        (r.debounce.maxWait ? ` (at most ${r.debounce.maxWait})` : ""),
      ]
      : []),
    ...(r.priority !== undefined ? [`priority ${r.priority}`] : []),
  ];
}

const show: Command = {
  name: "show",
  args: "<type>",
  summary: "Show a workflow type's flow control (per version) and its concurrency keys in use",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [type]) {
    const client = await rt.client();
    const fc = await client.flowControl(type);
    if (rt.out.format !== "table") {
      rt.out.json(fc);
      return Exit.ok;
    }
    if (fc.registrations.length === 0) {
      rt.out.event(`${type}: no flow control registered`, fc);
      return Exit.ok;
    }
    for (const r of fc.registrations) {
      rt.out.heading(`${type}${r.version ? `@${r.version}` : ""}`);
      rt.out.item(
        [
          ["Limits", limits(r).join("\n")],
          ["Registered by", r.workerId],
          ["Registered at", time(r.updatedAt)],
        ],
        r,
      );
    }
    rt.out.heading("Concurrency keys in use");
    rt.out.list<ConcurrencyKeyUse>(fc.keys, [
      ["KEY", (k) => k.path ? `${k.path}=${k.key}` : "(all runs)"],
      ["OPEN", (k) => `${k.used}/${k.limit}`],
      ["WAITING", (k) => k.waiting],
    ], (k) => k);
    return Exit.ok;
  },
};

/** The `flow` group. */
export const flowGroup: Group = {
  name: "flow",
  summary: "Show flow control (concurrency, rate limit, debounce, priority) of workflow types",
  commands: [show],
};
