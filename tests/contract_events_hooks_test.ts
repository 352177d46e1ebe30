/**
 * The event and hook lines of `../shared/API.md` "Streams, tokens and hooks", run as written
 * against a real server process (a worker in this process): a workflow defined with
 * `triggers`, an emit with an id, a hook created for a workflow and delivered to by plain HTTP
 * with the signature header and an Idempotency-Key.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { type Context, defineWorkflow, Kagzi, Worker } from "@kagzi/sdk";
import { startTestServer } from "./_server.ts";

const handler = (_ctx: Context, input: { orderId: string }) =>
  Promise.resolve({ receipt: input.orderId });

Deno.test("API.md's event and hook examples run as written (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const client = await Kagzi.connect(server.url);

  // events: one emit starts every workflow type that subscribed to it, once per event id
  const onOrder = defineWorkflow("email-receipt", handler, {
    triggers: [{ event: "order.created" }],
  });
  const worker = await Worker.builder(server.url).workflows([onOrder])
    .workflow("handle-payment", (_ctx: Context, input: unknown) => Promise.resolve(input))
    .logger(false).build();
  const running = worker.run();
  try {
    const emitted = await client.emit("order.created", { orderId: "o-1" }, { id: "evt-o-1" }); // → one run per subscribed type
    assert.equal(emitted.runs.length, 1);
    assert.deepEqual(await client.handle(emitted.runs[0].runId).result({ timeout: "30s" }), {
      receipt: "o-1",
    });
    const again = await client.emit("order.created", { orderId: "o-1" }, { id: "evt-o-1" });
    assert.equal(again.alreadyExists, true);
    assert.deepEqual(again.runs, emitted.runs);

    // hooks: an HTTP endpoint that starts runs (e.g. from Stripe or GitHub webhooks)
    await client.createHook("stripe-events", { workflow: "handle-payment", secret: "whsec_…" });
    // POST /v1/hooks/{namespace}/stripe-events with an HMAC-SHA256 signature header
    // (X-Kagzi-Signature: sha256=<hex of the body>) starts a run with the JSON body as input;
    // an Idempotency-Key header makes it the run's workflow id
    const body = JSON.stringify({ type: "payment_intent.succeeded", id: "evt_1" });
    const signature = createHmac("sha256", "whsec_…").update(body).digest("hex");
    const res = await fetch(`${server.url}/v1/hooks/default/stripe-events`, {
      method: "POST",
      headers: { "X-Kagzi-Signature": `sha256=${signature}`, "Idempotency-Key": "evt_1" },
      body,
    });
    assert.equal(res.status, 202);
    const { runId } = await res.json();
    const run = client.handle({ workflowId: "evt_1" });
    assert.equal((await run.get()).id, runId);
    assert.deepEqual(await run.result({ timeout: "30s" }), JSON.parse(body));
  } finally {
    await worker.shutdown();
    await running;
  }
});
