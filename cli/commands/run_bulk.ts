/**
 * Bulk forms of `kagzi run rerun|cancel|pause|resume`: given filter flags instead of a run, they
 * start a server-side bulk operation over the runs the filter selects and draw its progress.
 */
import {
  type BulkActionName,
  type BulkCall,
  type BulkProgress,
  parseDuration,
  WORKFLOW_STATUSES,
} from "@kagzi/sdk";
import { choice, type Flag, type Runtime, str, type Values } from "../_command.ts";
import { Exit, UsageError } from "../_errors.ts";
import { tagsFlag } from "./_runs.ts";

/** The filter flags of a bulk operation. */
export const bulkFlags: Record<string, Flag> = {
  status: {
    type: "string",
    value: "S",
    help: `bulk: runs with this status (${WORKFLOW_STATUSES.join(", ")})`,
  },
  version: { type: "string", value: "V", help: "bulk: runs pinned to this version" },
  since: {
    type: "string",
    value: "TIME|AGO",
    help: 'bulk: runs created at or after an ISO time or this long ago ("1h")',
  },
  until: { type: "string", value: "TIME|AGO", help: "bulk: runs created before" },
  tag: { type: "string", value: "K=V[,K=V]", help: "bulk: runs carrying every one of these tags" },
  bulk: { type: "boolean", help: "act on every run --type (and the other filters) selects" },
};

/** The --type flag of a bulk operation. */
export const bulkTypeFlag: Flag = {
  type: "string",
  value: "TYPE",
  help: "bulk: runs of this workflow type",
};

/** The help paragraph of the bulk form. */
export const bulkDetails =
  "\nWithout a <run>, with --status, --version, --since, --until or --tag (or --bulk,\n" +
  "then --type alone), it is a bulk operation: the server acts on every run the filters\n" +
  "select, in batches with rests between them, and the command draws its progress.\n" +
  "The runs a bulk operation cannot act on (e.g. open runs for rerun) are counted skipped.";

const filterNames = ["status", "version", "since", "until", "tag"];

/**
 * Whether the command was given the bulk form: no run, and a filter or --bulk (or `--type`
 * when `typeIsFilter`: rerun and cancel have no whole-type form of their own).
 */
export function isBulk(v: Values, id: string | undefined, typeIsFilter = false): boolean {
  const names = typeIsFilter ? [...filterNames, "type"] : filterNames;
  const bulk = v.bulk === true || names.some((n) => str(v, n) !== undefined);
  if (bulk && id !== undefined) {
    throw new UsageError("Give a run, or filter flags for a bulk operation, not both");
  }
  return bulk;
}

function timeFlag(v: Values, name: string): Date | undefined {
  const raw = str(v, name);
  if (raw === undefined) return undefined;
  const at = Date.parse(raw);
  if (!Number.isNaN(at) && /\d{4}-\d\d/.test(raw)) return new Date(at);
  try {
    return new Date(Date.now() - parseDuration(raw as never, `--${name}`));
  } catch {
    throw new UsageError(`Invalid --${name} "${raw}": use an ISO time or a duration ago ("1h")`);
  }
}

/** How a run a bulk action acted on is counted: "3 cancelled". */
const actedWord: Record<BulkProgress["action"], string> = {
  rerun: "rerun",
  cancel: "cancelled",
  pause: "paused",
  resume: "resumed",
};

function bar(p: BulkProgress): string {
  const width = 30;
  const filled = p.total ? Math.round((p.done / p.total) * width) : width;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.done}/${p.total} ` +
    `(${p.acted} ${actedWord[p.action] ?? p.action}, ${p.skipped} skipped)`;
}

/** Starts bulk `action` over the filter flags and draws its progress until it ends. */
export async function runBulk(rt: Runtime, v: Values, action: BulkActionName): Promise<number> {
  const status = choice(v, "status", WORKFLOW_STATUSES);
  const since = timeFlag(v, "since");
  const until = timeFlag(v, "until");
  const client = await rt.client();
  const call: BulkCall = client.bulk().namespace(rt.namespace);
  if (status) call.status(status);
  if (str(v, "type")) call.type(str(v, "type")!);
  if (str(v, "version")) call.version(str(v, "version")!);
  if (since) call.since(since);
  if (until) call.until(until);
  for (const [k, value] of Object.entries(tagsFlag(v, "tag") ?? {})) call.tag(k, value);
  const op = action === "rerun"
    ? await call.rerun()
    : action === "cancel"
    ? await call.cancel({ reason: str(v, "reason") })
    : action === "pause"
    ? await call.pause()
    : await call.resume();
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let last!: BulkProgress;
  for await (last of op.progress()) {
    Deno.stderr.writeSync(enc.encode(tty ? `\r${bar(last)}` : `${bar(last)}\n`));
  }
  if (tty) Deno.stderr.writeSync(enc.encode("\n"));
  rt.out.item([
    ["Operation ID", last.id],
    ["Action", last.action],
    ["Status", last.status],
    ["Runs", `${last.done}/${last.total}`],
    ["Acted on", String(last.acted)],
    ["Skipped", String(last.skipped)],
  ], last);
  return last.status === "COMPLETED" ? Exit.ok : Exit.failed;
}
