/** The benchmark's workflows, shared by the worker process and the in-process setup. */
import type { Context } from "@kagzi/sdk";

/** Three sequential steps: the unit of W1, W2, W5 and W6. */
export async function bench3(ctx: Context) {
  const a = await ctx.step("a").run(() => ({ v: 1 }));
  const b = await ctx.step("b").run(() => ({ v: a.v + 1 }));
  const c = await ctx.step("c").run(() => ({ v: b.v + 1 }));
  return c;
}

/** A step, a durable 1 ms sleep, a step (W8): the run suspends and is claimed again. */
export async function napper(ctx: Context) {
  const a = await ctx.step("a").run(() => 1);
  await ctx.sleep("nap", "1ms");
  return await ctx.step("b").run(() => a + 1);
}

/** `steps` sequential steps (W3). */
export async function deep(ctx: Context, input: { steps: number }) {
  let total = 0;
  for (let i = 0; i < input.steps; i++) total += await ctx.step("s").run(() => i);
  return total;
}

/** `steps` parallel steps (W4). */
export async function fanout(ctx: Context, input: { steps: number }) {
  const all = await Promise.all(
    Array.from({ length: input.steps }, (_, i) => ctx.step("p").run(() => i)),
  );
  return all.length;
}

/**
 * Writes `n` values `{ i, t }` (t: the write's wall-clock time, for the reader's latency) to
 * stream "s": awaiting each with `pauseMs` between (latency), or all at once (throughput).
 */
export async function streamWriter(
  ctx: Context,
  input: { n: number; pauseMs?: number; burst?: boolean; pad?: number },
) {
  const s = ctx.stream<{ i: number; t: number; pad: string }>("s");
  const pad = "x".repeat(input.pad ?? 0);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < input.n; i++) {
    const w = s.write({ i, t: Date.now(), pad });
    if (input.burst) writes.push(w);
    else await w;
    if (input.pauseMs) await new Promise((r) => setTimeout(r, input.pauseMs));
  }
  await Promise.all(writes);
  await s.close();
  return input.n;
}

export const workflows = { bench3, napper, deep, fanout, "stream-writer": streamWriter };
