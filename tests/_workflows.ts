/** Workflows used by the integration tests, shared by in-process and subprocess workers. */
import { type Context, Retry, type WorkflowFn } from "@kagzi/sdk";
import { chargeDeclined } from "./_failures.ts";

/** Where step executions are appended, one JSON line each (set by the test). */
const journal = Deno.env.get("KAGZI_TEST_JOURNAL");

/** Records that a step's function really ran (not replayed), in the journal file. */
export function record(ctx: Context, step: string): void {
  if (!journal) return;
  const line = JSON.stringify({ run: ctx.runId, step, pid: Deno.pid, at: Date.now() }) + "\n";
  Deno.writeTextFileSync(journal, line, { append: true });
}

const delay = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });

/** Three sequential steps; each waits `stepMs` (ignoring aborts, like careless user code). */
export async function threeSteps(ctx: Context, input: { stepMs?: number } = {}) {
  const out: number[] = [];
  for (const name of ["one", "two", "three"]) {
    out.push(
      await ctx.step(name).run(async () => {
        record(ctx, name);
        if (input.stepMs) await delay(input.stepMs);
        return out.length + 1;
      }),
    );
  }
  return { out, runId: ctx.runId };
}

/**
 * Three steps, then — in its first execution only — `blockMs` of synchronous work before it
 * returns: the last step's output, held back for the completion, is not stored meanwhile (no
 * timer can fire), so a kill then loses it and the step runs again.
 */
export async function lastStepThenBlock(ctx: Context, input: { blockMs: number }) {
  const out = await threeSteps(ctx);
  if (ranSoFar(ctx.runId, "three") === 1) {
    const until = Date.now() + input.blockMs;
    while (Date.now() < until) { /* synchronous: nothing else of the process runs */ }
  }
  return out;
}

/** Five sequential steps of `stepMs` each; returns the run id and the steps' outputs. */
export async function fiveSteps(ctx: Context, input: { stepMs?: number } = {}) {
  const out: number[] = [];
  for (let i = 1; i <= 5; i++) {
    out.push(
      await ctx.step(`s${i}`).run(async () => {
        record(ctx, `s${i}`);
        if (input.stepMs) await delay(input.stepMs);
        return i;
      }),
    );
  }
  return { out, runId: ctx.runId };
}

/** A loop of repeated step and sleep names. */
export async function looper(ctx: Context, input: { n: number }) {
  let total = 0;
  for (let i = 0; i < input.n; i++) {
    total += await ctx.step("same-name").run(() => i);
    await ctx.sleep("tick", "10ms");
  }
  return total;
}

/** Sleeps once, then returns the time it woke. */
export async function sleeper(ctx: Context, input: { ms: number }) {
  await ctx.sleep("x", input.ms);
  return await ctx.step("after").run(() => Date.now());
}

/** A step, a durable sleep of `ms` and a step; each step's real runs are journaled. */
export async function napper(ctx: Context, input: { ms: number }) {
  const a = await ctx.step("a").run(() => (record(ctx, "a"), 1));
  await ctx.sleep("nap", input.ms);
  return await ctx.step("b").run(() => (record(ctx, "b"), a + 1));
}

/** A step that fails `failures` times (counted durably by attempt) before succeeding. */
export async function flaky(
  ctx: Context,
  input: {
    failures: number;
    attempts: number;
    initialMs: number;
    errorName?: string;
    retryAfterMs?: number;
  },
) {
  return await ctx.step("flaky").retry(
    Retry.attempts(input.attempts).initial(input.initialMs).nonRetryable(["Fatal"]),
  ).run(() => {
    record(ctx, "flaky");
    const n = ranSoFar(ctx.runId, "flaky");
    if (n <= input.failures) {
      const err = new Error(`failure ${n}`);
      if (input.errorName) err.name = input.errorName;
      throw err;
    }
    return n;
  });
}

/** How many times this run's step `step` ran, according to the journal. */
function ranSoFar(runId: string, step: string): number {
  if (!journal) return 0;
  return Deno.readTextFileSync(journal).split("\n").filter((l) =>
    l.includes(runId) && l.includes(`"${step}"`)
  ).length;
}

/**
 * Writes `n` progress values to stream "progress", a step of `ms` before each (so a worker can
 * be killed between writes), then closes it unless `open`; a write refused (e.g. an oversize
 * `big` value first) ends the run with that error's code.
 */
export async function progress(
  ctx: Context,
  input: { n: number; ms?: number; open?: boolean; big?: number },
) {
  const s = ctx.stream<{ i: number; pct: number }>("progress");
  if (input.big) {
    const refused = await ctx.stream<string>("big").write("x".repeat(input.big)).then(
      () => "stored",
      (err) => `${err.code}: ${err.message}`,
    );
    return { refused };
  }
  for (let i = 0; i < input.n; i++) {
    await ctx.step("work").run(async () => {
      record(ctx, `work-${i}`);
      if (input.ms) await delay(input.ms);
    });
    await s.write({ i, pct: Math.round(((i + 1) / input.n) * 100) });
  }
  if (!input.open) await s.close();
  return input.n;
}

/** Every workflow by type. */
export const workflows: Record<string, WorkflowFn> = {
  "three-steps": threeSteps,
  "last-step-block": lastStepThenBlock,
  looper,
  sleeper,
  napper,
  flaky,
  "type-a": (ctx) => ctx.step("a").run(() => "A"),
  "type-b": (ctx) => ctx.step("b").run(() => "B"),
  "signal-waiter": signalWaiter,
  "slow-child": slowChild,
  "fan-out": fanOut,
  "five-steps": fiveSteps,
  progress,
  "any-race": anyRace,
  "child-refused": childRefused,
  "charge-declined": chargeDeclined,
};

export { delay };

/** Records "before", waits for signal "go", records "after"; returns the signal's payload. */
export async function signalWaiter(ctx: Context) {
  await ctx.step("before").run(() => record(ctx, "before"));
  const got = await ctx.waitForSignal<{ n: number }>("go");
  await ctx.step("after").run(() => record(ctx, "after"));
  return got;
}

/** A child that takes a while: one step of `ms`. */
export async function slowChild(ctx: Context, input: { n: number; ms: number }) {
  return await ctx.step("work").run(async () => {
    record(ctx, `child-${input.n}`);
    await delay(input.ms);
    return input.n * 10;
  });
}

/** Starts `n` slow children and sums their results. */
export async function fanOut(ctx: Context, input: { n: number; ms: number }) {
  const results = await Promise.all(
    Array.from(
      { length: input.n },
      (_, i) => ctx.child(`c${i}`).run<number>("slow-child", { n: i, ms: input.ms }),
    ),
  );
  await ctx.step("sum").run(() => record(ctx, "sum"));
  return results.reduce((a, b) => a + b, 0);
}

/**
 * Races signal "approve" against a sleep of `sleep`; the step after records the winner and holds
 * while `holdFile` exists (a test kills the worker there); a sleep that won leaves the next
 * "approve" signal to the wait after it.
 */
export async function anyRace(ctx: Context, input: { sleep: string; holdFile: string }) {
  const first = await ctx.any({
    ok: ctx.waitForSignal<number>("approve"),
    late: ctx.sleep("deadline", input.sleep),
  });
  await ctx.step("after").run(async () => {
    record(ctx, `after:${first.key}`);
    while (await Deno.stat(input.holdFile).then(() => true, () => false)) await delay(50);
  });
  const later = first.key === "late" ? await ctx.waitForSignal<number>("approve") : undefined;
  return { first, later };
}

/**
 * Starts child "c" of type "type-a" under workflow id `input.id` and catches its refusal (the
 * test holds the id with a run of another type), journaled as "refused:<code> <subject>
 * <subjectId> <message>" in every execution; a step then holds while `holdFile` exists (a test
 * kills the worker there); then child "c2" under a free id. Returns the refusal and c2's result.
 */
export async function childRefused(ctx: Context, input: { id: string; holdFile: string }) {
  const refused = await ctx.child("c").id(input.id).run<string>("type-a", undefined).then(
    () => "started",
    (e) => `${e.code} ${e.subject} ${e.subjectId} ${e.message}`,
  );
  record(ctx, `refused:${refused}`);
  await ctx.step("hold").run(async () => {
    record(ctx, "hold");
    while (await Deno.stat(input.holdFile).then(() => true, () => false)) await delay(50);
  });
  const other = await ctx.child("c2").id(`${input.id}-free`).run<string>("type-a", undefined);
  return { refused, other };
}
