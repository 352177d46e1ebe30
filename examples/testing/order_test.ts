/**
 * Tests of the order workflow with the testing kit: the real server in process, an in-memory
 * database and a virtual clock, so three days of waiting take milliseconds.
 * Run: `deno test -A examples/testing/`.
 */
import assert, { deepEqual as assertEquals } from "node:assert/strict";
import { TestEnv } from "@kagzi/sdk/testing";
import { type OrderInput, processOrder } from "./order.ts";

const order: OrderInput = { userId: 7, items: ["book", "lamp"], total: 42 };

Deno.test("an order waits three days for approval, then ships", async () => {
  await using env = await TestEnv.create({ workflows: { "process-order": processOrder } });
  const run = await env.client.start("process-order").input(order);
  await env.skipTime("3 days"); // durable sleeps, timeouts and retry backoffs due meanwhile fire
  env.mockStep("charge-card", () => ({ transactionId: "tx-1" })); // steps can be replaced
  assertEquals(await run.result(), { orderId: "tx-1", status: "completed" });
});

Deno.test("an order cancelled within three days is not charged", async () => {
  await using env = await TestEnv.create({ workflows: { "process-order": processOrder } });
  let charged = 0;
  env.mockStep("charge-card", () => ({ transactionId: `tx-${++charged}` }));
  const run = await env.client.start("process-order").input(order);
  await env.skipTime("2 days");
  await run.signal("cancel");
  assertEquals(await run.result(), { orderId: "", status: "cancelled" });
  assert.equal(charged, 0);
});

Deno.test("a card declined twice is charged on the third attempt, hours later", async () => {
  await using env = await TestEnv.create({ workflows: { "process-order": processOrder } });
  let attempts = 0;
  env.mockStep("charge-card", () => {
    if (++attempts < 3) throw new Error("card declined");
    return { transactionId: "tx-3" };
  });
  const started = env.now().getTime();
  const run = await env.client.start("process-order").input(order);
  assertEquals(await run.result(), { orderId: "tx-3", status: "completed" });
  const charges = (await env.client.getStep(run.id, "charge-card")).map((s) => s.status);
  assertEquals(charges, ["FAILED", "FAILED", "COMPLETED"]);
  // 3 days to cancel + 1 day to the pickup + backoffs of 1 h and 2 h (each ±20%).
  assert.ok(env.now().getTime() - started >= (4 * 24 + 2) * 3_600_000);
});
