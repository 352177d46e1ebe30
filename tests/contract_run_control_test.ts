/**
 * The contract example of `../shared/API.md` "Handles, id reuse, run control", run as written
 * (one real server process, one worker in this process): handles by run id and by workflow id,
 * a duplicate start returning the ended run, onDuplicate, rerun from a step, pause/resume of a
 * run and of a type, a bulk rerun with progress, tags set at start and by ctx.setTags.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, type KagziError, Retry, Worker } from "@kagzi/sdk";
import { startTestServer } from "./_server.ts";

interface Order {
  id: string;
  fail?: boolean;
}

const charged: string[] = [];

async function processOrder(ctx: Context, order: Order) {
  const reserved = await ctx.step("reserve").run(() => `reserved ${order.id}`);
  const tx = await ctx.step("charge-card").retry(Retry.none()).run(() => {
    charged.push(ctx.runId);
    if (order.fail) throw new Error("card declined");
    return `tx-${order.id}`;
  });
  await ctx.setTags({ stage: "shipped" });
  return { reserved, tx };
}

Deno.test("API.md's run-control example runs as written (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const client = await Kagzi.connect(server.url);
  const worker = await Worker.builder(server.url).workflow("process-order", processOrder).build();
  const running = worker.run();
  try {
    const order: Order = { id: "123" };
    const started = await client.start("process-order").input(order).id("order-123")
      .tags({ customer: "42", plan: "pro" });
    const runId = started.id;

    // attach to any run knowing only its run id or its workflow id
    const h = client.handle(runId);
    const out = await h.result({ timeout: "30s" });
    assert.deepEqual(out, { reserved: "reserved 123", tx: "tx-123" });
    const w = await h.get();
    assert.equal(w.status, "COMPLETED");
    const byWorkflowId = await client.handle({ workflowId: "order-123" }).get();
    assert.equal(byWorkflowId.id, runId);
    const steps = await h.steps();
    assert.ok(steps.some((s) => s.name === "charge-card" && s.status === "COMPLETED"));

    // a workflow id stays an idempotency key after the run ended
    const again = await client.start("process-order").input(order).id("order-123");
    assert.equal(again.id, runId);
    assert.equal(again.alreadyExists, true);
    const anew = await client.start("process-order").input(order).id("order-123")
      .onDuplicate("allow-after-end");
    assert.notEqual(anew.id, runId);
    await anew.result({ timeout: "30s" });
    await assert.rejects(
      client.start("process-order").input(order).id("order-123").onDuplicate("fail"),
      (e: KagziError) => e.code === "CONFLICT" && /order-123/.test(e.message),
    );

    // operator control: rerun a failed run from the step that broke
    const failed = await client.start("process-order").input({ id: "9", fail: true });
    await assert.rejects(failed.result({ timeout: "30s" }), /card declined/);
    const rerun = await client.rerun(failed.id, { fromStep: "charge-card" });
    await assert.rejects(rerun.result({ timeout: "30s" }), /card declined/);
    assert.equal((await client.get(rerun.id)).retriedFromRunId, failed.id);

    // pause and resume a type: a run started meanwhile waits, then completes
    await client.pauseType("process-order");
    const held = await client.start("process-order").input({ id: "7" });
    // Nothing to wait for when nothing should happen: give an idle worker a moment to (not) claim it.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      (await client.get(held.id)).status,
      "PENDING",
      "not claimed while its type is paused",
    );
    await client.resumeType("process-order");
    await held.result({ timeout: "30s" });

    // a bulk rerun of the failed runs of the type, with progress
    const op = await client.bulk().status("FAILED").type("process-order")
      .since(new Date(Date.now() - 60_000)).rerun();
    let last = { done: 0, total: -1 };
    for await (const p of op.progress()) last = p;
    assert.equal(last.done, last.total);
    assert.equal(last.total, 2, "the failed run and its failed rerun");

    // tags set at start and from inside the workflow
    const tagged: Record<string, string>[] = [];
    for await (const t of client.list().tag("customer", "42")) tagged.push(t.tags ?? {});
    assert.deepEqual(tagged, [{ customer: "42", plan: "pro", stage: "shipped" }]);
  } finally {
    await worker.shutdown();
    await running;
  }
});
