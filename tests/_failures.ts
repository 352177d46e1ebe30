/**
 * Failures with causes for the error tests: a JSON view of an error, the error a step throws
 * (three errors long), and a workflow that catches it, looks at it before and after a replay,
 * and rethrows it. Shared by in-process and subprocess workers (`_workflows.ts`).
 */
import {
  type Context,
  type KagziError,
  NonRetryableError,
  Retry,
  StepFailedError,
  WorkflowFailedError,
} from "@kagzi/sdk";

/** An error as a JSON view of it. */
export interface ErrorView {
  name: string;
  message: string;
  code?: string;
  metadataName?: string;
  /** Absent for the SDK's wrappers (StepFailedError, WorkflowFailedError): made where thrown. */
  stack?: string;
  cause?: ErrorView | string;
}

/** What a program sees of an error: name, message, code, `metadata.name`, stack and causes. */
export function errorView(e: unknown, depth = 0): ErrorView | string | undefined {
  if (e === undefined) return undefined;
  if (!(e instanceof Error)) return `not an Error: ${String(e)}`;
  const k = e as Partial<KagziError>;
  const wrapper = e instanceof StepFailedError || e instanceof WorkflowFailedError;
  const view: ErrorView = {
    name: e.name,
    message: e.message,
    code: k.code,
    metadataName: k.metadata?.name,
    stack: wrapper ? undefined : e.stack,
    cause: depth < 6 ? errorView(e.cause, depth + 1) : "…",
  };
  // As JSON has it (as a step's stored output reads): no undefined fields.
  return JSON.parse(JSON.stringify(view));
}

/** The error step "charge" throws: NonRetryableError, caused by a RangeError, caused by "root". */
export function declined(): Error {
  return new NonRetryableError("card declined", {
    cause: new RangeError("out of range!", { cause: new Error("root") }),
  });
}

/**
 * Six errors, each caused by the next, each with a 10,000-character message and a ~34 KB stack:
 * more than is stored (3 causes, each bounded).
 */
export function deepError(): Error {
  let e: Error | undefined;
  for (let i = 6; i >= 1; i--) {
    e = new Error(`level ${i} ${"m".repeat(10_000)}`, { cause: e });
    e.stack = `Error: level ${i}\n${"    at somewhere (file:///x.ts:1:1)\n".repeat(1_000)}`;
  }
  return e!;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/**
 * Catches the failed step "charge" (`declined()`, or `deepError()`) and stores what it saw (step
 * "seen"); then, in step "hold", waits while `holdFile` exists (a test kills the worker there),
 * or without one sleeps (a worker with `holdSleeps(0)` suspends the run: the rest is a replay);
 * stores what it sees now (step "seen-again": the error rebuilt from the history after the kill
 * or sleep) and rethrows it.
 */
export async function chargeDeclined(
  ctx: Context,
  input: { holdFile?: string; deep?: boolean } = {},
) {
  let caught: unknown;
  try {
    await ctx.step("charge").retry(Retry.none()).run(() => {
      throw input.deep ? deepError() : declined();
    });
  } catch (e) {
    caught = e;
  }
  await ctx.step("seen").run(() => errorView(caught));
  if (input.holdFile) {
    const file = input.holdFile;
    await ctx.step("hold").run(async () => {
      while (await exists(file)) await delay(50);
    });
  } else await ctx.sleep("replay", "10ms");
  await ctx.step("seen-again").run(() => errorView(caught));
  throw caught;
}
