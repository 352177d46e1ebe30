/** The benchmark's workflows, shared by the worker process and the in-process setup. */
import type { Context } from "@kagzi/sdk";

/** Three sequential steps: the unit of W1, W2, W5 and W6. */
export async function bench3(ctx: Context) {
  const a = await ctx.step("a").run(() => ({ v: 1 }));
  const b = await ctx.step("b").run(() => ({ v: a.v + 1 }));
  const c = await ctx.step("c").run(() => ({ v: b.v + 1 }));
  return c;
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

export const workflows = { bench3, deep, fanout };
