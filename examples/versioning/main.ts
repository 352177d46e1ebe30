/**
 * Changing a workflow's code while runs of it are in flight, safely:
 * `deno run -A examples/versioning/main.ts` against a server on http://localhost:50051
 * (or KAGZI_ADDR).
 *
 * A run replays its code from the top and must ask for the steps its history recorded, in
 * their kinds and names. Renaming `charge-card` to `charge-payment` under a run that already
 * charged would charge again, so Kagzi parks such a run instead (status PARKED). The safe way
 * is a new version: keep the old code registered for the runs that started on it, make the
 * new one the default for new runs, and retire the old one when no run of it is open.
 */
import { type Context, isOpen, Kagzi, Worker } from "@kagzi/sdk";

const addr = Deno.env.get("KAGZI_ADDR") ?? "http://localhost:50051";

interface Order {
  id: string;
  total: number;
}

// Version 1, as first deployed.
async function orderV1(ctx: Context, order: Order) {
  const { receipt } = await ctx.step("charge-card").run(() => ({ receipt: `card-${order.id}` }));
  const { by } = await ctx.waitForSignal<{ by: string }>("approve");
  const tracking = await ctx.step("ship").run(() => `ship-${order.id}`);
  return { version: "1", receipt, by, tracking };
}

// Version 2: a fraud check first, and the charge step renamed. Runs that began on version 1
// never see this code; they finish on orderV1.
async function orderV2(ctx: Context, order: Order) {
  const risk = await ctx.step("fraud-check").run(() => (order.total > 1000 ? "review" : "ok"));
  const { receipt } = await ctx.step("charge-payment").run(() => ({ receipt: `pay-${order.id}` }));
  const { by } = await ctx.waitForSignal<{ by: string }>("approve");
  const tracking = await ctx.step("ship").run(() => `ship-${order.id}`);
  return { version: "2", risk, receipt, by, tracking };
}

// One worker serving both versions (they could as well be two deployments side by side).
const worker = await Worker.builder(addr)
  .workflow("process-order", orderV1, { version: "1" })
  .workflow("process-order", orderV2, { version: "2" })
  .build();
const running = worker.run();
const client = await Kagzi.connect(addr);

async function waitingForApproval(runId: string): Promise<void> {
  while (!(await client.get(runId)).waits.some((w) => w.kind === "signal")) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Before the change: new runs get version 1.
await client.setDefaultVersion("process-order", "1");
const early = await client.start("process-order").input({ id: "o-1", total: 20 }).id("o-1");
await waitingForApproval(early.id);

// The change ships: new runs get version 2; o-1 keeps version 1 for its whole life.
await client.setDefaultVersion("process-order", "2");
const late = await client.start("process-order").input({ id: "o-2", total: 30 }).id("o-2");
await waitingForApproval(late.id);

for (const run of [early, late]) await run.signal("approve", { by: "ana" });
console.log("o-1", JSON.stringify(await early.result()));
console.log("o-2", JSON.stringify(await late.result()));

// Retire version 1 once none of its runs is open (here: at once).
let openV1 = 0;
for await (const w of client.list().type("process-order").version("1")) {
  if (isOpen(w.status)) openV1++;
}
console.log(`open version 1 runs: ${openV1}${openV1 === 0 ? " (orderV1 can be removed)" : ""}`);

await worker.shutdown();
await running;
