/**
 * Helpers for the tests of flow control on every start path (tests/flow_start_paths_test.ts,
 * tests/flow_schedule_test.ts, tests/flow_child_test.ts): spans recorded from inside steps and
 * their peaks, a limited workflow type that records them, signed hook deliveries, run counts, and
 * the check that a call is INVALID_ARGUMENT naming a key.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
  type Context,
  defineWorkflow,
  type Kagzi,
  type KagziError,
  type WorkflowDefinition,
} from "@kagzi/sdk";

/** Open spans of runs, recorded from inside their steps: who was executing at once. */
export class Spans {
  readonly #spans = new Map<string, { key: string; enter: number; exit?: number }>();

  /** Marks `run` (of limit key `key`) as executing from now. */
  enter(run: string, key: string): void {
    this.#spans.set(run, { key, enter: performance.now() });
  }

  /** Marks `run` as done executing. */
  exit(run: string): void {
    this.#spans.get(run)!.exit = performance.now();
  }

  /** Forgets every span recorded so far. */
  clear(): void {
    this.#spans.clear();
  }

  /** How many runs were recorded. */
  get size(): number {
    return this.#spans.size;
  }

  /** The most spans open at once with one key, and in all. */
  peaks(): { perKey: number; total: number } {
    return peaks([...this.#spans.values()]);
  }
}

/**
 * The most spans open at once with one key, and in all (a span ending when another begins:
 * not both; one never ended is open to the end).
 */
export function peaks(
  spans: readonly { key: string; enter: number; exit?: number }[],
): { perKey: number; total: number } {
  const events = spans.flatMap((s) => [
    { at: s.enter, d: 1, key: s.key },
    { at: s.exit ?? Infinity, d: -1, key: s.key },
  ]).sort((a, b) => a.at - b.at || a.d - b.d);
  const open = new Map<string, number>();
  let total = 0, perKey = 0, maxTotal = 0;
  for (const e of events) {
    const n = (open.get(e.key) ?? 0) + e.d;
    open.set(e.key, n);
    total += e.d;
    perKey = Math.max(perKey, n);
    maxTotal = Math.max(maxTotal, total);
  }
  return { perKey, total: maxTotal };
}

/**
 * A workflow type under "one open run per input.c", its runs' spans recorded in `spans` from
 * inside its steps, each run busy for `ms`.
 */
export function limitedType(
  type: string,
  spans: Spans,
  ms: number,
): WorkflowDefinition<{ c: string }, string> {
  return defineWorkflow(
    type,
    async (ctx: Context, input: { c: string }) => {
      await ctx.step("enter").run(() => spans.enter(ctx.runId, input.c));
      await ctx.step("work").run(() => new Promise((r) => setTimeout(r, ms)));
      await ctx.step("exit").run(() => spans.exit(ctx.runId));
      return input.c;
    },
    { concurrency: [{ key: "input.c", limit: 1 }] },
  );
}

/** The hooks' secret in these tests. */
export const hookSecret = "whsec_flow_paths_0123456789";

/** POSTs a signed JSON body to a hook as a provider would; the status and the JSON answer. */
export async function deliver(
  base: string,
  path: string,
  body: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const sig = `sha256=${createHmac("sha256", hookSecret).update(body).digest("hex")}`;
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-kagzi-signature": sig },
    body,
  });
  return { status: res.status, json: await res.json() };
}

/** How many runs of `type` are stored. */
export async function runCount(client: Kagzi, type: string): Promise<number> {
  let n = 0;
  for await (const _ of client.list().type(type)) n++;
  return n;
}

/** Asserts that `call` is refused with INVALID_ARGUMENT whose message matches every pattern. */
export async function refused(call: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(call, (e: KagziError) => {
    assert.equal(e.code, "INVALID_ARGUMENT", e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** The server's log lines at ERROR level. */
export function errorLines(output: string): string[] {
  return output.split("\n").filter((l) => / ERROR /.test(l));
}
