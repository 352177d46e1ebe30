/**
 * A worker process for the flow-control evidence test: `deno run -A tests/_flow_worker.ts <addr>
 * <journal>`. Its workflow "flow-evidence" (one open run per customer, five in all) appends
 * {run, customer, ev: "enter" | "exit", at, pid} to the journal from inside its first and last
 * steps, with a step and a durable sleep in between.
 */
import { type Context, defineWorkflow, Worker } from "@kagzi/sdk";

const [addr, journal] = Deno.args;
const write = (run: string, customer: string, ev: string) =>
  Deno.writeTextFile(
    journal,
    JSON.stringify({ run, customer, ev, at: Date.now(), pid: Deno.pid }) + "\n",
    { append: true },
  );

const evidence = defineWorkflow(
  "flow-evidence",
  async (ctx: Context, input: { customer: string; n: number }) => {
    await ctx.step("enter").run(() => write(ctx.runId, input.customer, "enter"));
    await ctx.step("work").run(() => new Promise((r) => setTimeout(r, 20 + (input.n % 5) * 10)));
    await ctx.sleep("nap", "20ms");
    await ctx.step("exit").run(() => write(ctx.runId, input.customer, "exit"));
    return input.n;
  },
  { concurrency: [{ key: "input.customer", limit: 1 }, { limit: 5 }] },
);

const worker = await Worker.builder(addr).workflow(evidence).maxConcurrent(10).logger("warn")
  .build();
console.log(`worker ready ${worker.id}`);
await worker.run();
