/** The benchmark's worker process: `deno run -A bench/worker.ts <addr>`. Prints its stats on SIGTERM. */
import { type Context, Worker } from "@kagzi/sdk";

async function bench3(ctx: Context) {
  const a = await ctx.step("a").run(() => ({ v: 1 }));
  const b = await ctx.step("b").run(() => ({ v: a.v + 1 }));
  const c = await ctx.step("c").run(() => ({ v: b.v + 1 }));
  return c;
}

async function deep(ctx: Context, input: { steps: number }) {
  let total = 0;
  for (let i = 0; i < input.steps; i++) total += await ctx.step("s").run(() => i);
  return total;
}

async function fanout(ctx: Context, input: { steps: number }) {
  const all = await Promise.all(
    Array.from({ length: input.steps }, (_, i) => ctx.step("p").run(() => i)),
  );
  return all.length;
}

const worker = await Worker.builder(Deno.args[0])
  .maxConcurrent(50)
  .workflows({ bench3, deep, fanout })
  .build();
console.log("worker ready");
const done = worker.run();
const report = () => {
  const s = worker.stats;
  console.log(
    `stats ${JSON.stringify({ completed: s.completed, failed: s.failed, rpcs: s.rpcs })}`,
  );
};
Deno.addSignalListener("SIGUSR1", report);
await done;
report();
