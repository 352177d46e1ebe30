/**
 * An order that waits for a human approval and charges through a child workflow:
 * `deno run -A examples/approval/main.ts` against a server on http://localhost:50051
 * (or KAGZI_ADDR). Two orders run: one is approved (a signal sent after the run waits)
 * and charged by the child; the other times out waiting and is rejected.
 */
import { defineWorkflow, Kagzi, Retry, SignalTimeoutError, Worker } from "@kagzi/sdk";

const addr = Deno.env.get("KAGZI_ADDR") ?? "http://localhost:50051";
const approvalTimeout = Deno.env.get("APPROVAL_TIMEOUT") ?? "2s";

interface Order {
  orderId: string;
  total: number;
}
interface Approval {
  by: string;
}

// The payment workflow: a child run of its own, retried and memoized like any workflow.
const chargeCard = defineWorkflow("charge-card", async (ctx, input: { amount: number }) => {
  return await ctx.step("charge").retry(Retry.attempts(3)).run(() => ({
    receipt: `rcpt-${input.amount}`,
  }));
});

const approveOrder = defineWorkflow("approve-order", async (ctx, order: Order) => {
  let approval: Approval;
  try {
    // Durable: the run suspends (freeing its worker slot) until the signal or the timeout.
    approval = await ctx.waitForSignal<Approval>("approve", { timeout: approvalTimeout });
  } catch (err) {
    if (err instanceof SignalTimeoutError) return { orderId: order.orderId, status: "rejected" };
    throw err;
  }
  // The parent waits durably for its child; cancelling the order cancels the charge.
  const { receipt } = await ctx.child("charge").run(chargeCard, { amount: order.total });
  return { orderId: order.orderId, status: "charged", receipt, approvedBy: approval.by };
});

const worker = await Worker.builder(addr).workflows([approveOrder, chargeCard]).build();
const running = worker.run();
const client = await Kagzi.connect(addr);

const approved = await client.start(approveOrder).input({ orderId: "A-1", total: 42 }).id("A-1");
// Wait until the run is parked on the signal, as a person clicking "approve" later would.
while (!(await client.get(approved.id)).waits.some((w) => w.kind === "signal")) {
  await new Promise((r) => setTimeout(r, 50));
}
await approved.signal("approve", { by: "ana" }, { idempotencyKey: "approval-A-1" });
console.log("approved:", JSON.stringify(await approved.result()));

const ignored = await client.start(approveOrder).input({ orderId: "B-2", total: 7 }).id("B-2");
console.log("ignored:", JSON.stringify(await ignored.result()));

await worker.shutdown();
await running;
