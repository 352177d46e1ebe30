/**
 * Helpers shared by the run commands: naming a run by run id or workflow id, exit codes,
 * waiting for the end (`isEnded`, the SDK's).
 */
import { isEnded, type Kagzi, KagziError, type Workflow } from "@kagzi/sdk";
import { Exit, UsageError } from "../_errors.ts";
import { str, type Values } from "../_command.ts";

/** The exit code of an ended run: 0 when it completed, 1 when it failed or was cancelled. */
export function exitOf(w: Workflow): number {
  if (w.status === "COMPLETED") return Exit.ok;
  console.error(
    `kagzi: run ${w.id} ${w.status}${w.error ? `: ${w.error.message}` : ""}`,
  );
  return Exit.failed;
}

/**
 * Reads the run until it has ended: a run that has ended is returned whatever the timeout; one
 * still open when read after `timeoutMs` passed is a TIMEOUT error.
 */
export async function waitForEnd(
  client: Kagzi,
  runId: string,
  timeoutMs?: number,
): Promise<Workflow> {
  const until = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  for (let delay = 100;; delay = Math.min(delay * 2, 1_000)) {
    const w = await client.get(runId);
    if (isEnded(w.status)) return w;
    const left = until - Date.now();
    if (left <= 0) {
      throw new KagziError(
        "TIMEOUT",
        `Run ${runId} did not end within ${timeoutMs} ms`,
        {
          subject: "run",
          subjectId: runId,
        },
      );
    }
    // The last read is at the timeout, so "did not end within" is true when it is said.
    await new Promise((r) => setTimeout(r, Math.min(delay, left)));
  }
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The run `id` names: the run with that run id, else the newest run with that workflow id (the
 * open one, when one is open: a workflow id has at most one). NOT_FOUND when neither exists.
 */
export async function resolveRun(client: Kagzi, id: string, namespace: string): Promise<Workflow> {
  if (uuid.test(id)) {
    try {
      return await client.get(id);
    } catch (err) {
      if (KagziError.from(err).code !== "NOT_FOUND") throw err;
    }
  }
  const [newest] = (await client.list().workflowId(id).pageSize(1)).workflows;
  if (newest) return newest;
  throw new KagziError(
    "NOT_FOUND",
    `Run "${id}" was not found in namespace "${namespace}" (neither as a run id nor as a workflow id)`,
    { subject: "run", subjectId: id },
  );
}

/** The tags of flag `name` ("key=value,key2=value2"); undefined when absent. */
export function tagsFlag(values: Values, name: string): Record<string, string> | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const part of raw.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(`Invalid --${name} "${raw}": use key=value[,key=value…]`);
    }
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
