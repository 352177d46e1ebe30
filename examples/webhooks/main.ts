/**
 * A payment provider's webhook that fans out to two workflows: `deno run -A
 * examples/webhooks/main.ts` against a server on http://localhost:50051 (or KAGZI_ADDR).
 * Two workflow types subscribe to the event "payment.succeeded" in their definitions; a hook
 * emits that event for every signed delivery; this program then plays the provider, POSTing one
 * signed delivery twice (providers redeliver) with plain fetch, and prints what each started.
 */
import { createHmac } from "node:crypto";
import { defineWorkflow, Kagzi, Worker } from "@kagzi/sdk";

const addr = Deno.env.get("KAGZI_ADDR") ?? "http://localhost:50051";
const secret = Deno.env.get("WEBHOOK_SECRET") ?? crypto.randomUUID();

interface Payment {
  id: string;
  amount: number;
  email: string;
}

const sendReceipt = defineWorkflow("send-receipt", async (ctx, p: Payment) => {
  return await ctx.step("email").run(() => `receipt for ${p.id} sent to ${p.email}`);
}, { triggers: [{ event: "payment.succeeded" }] });

const updateLedger = defineWorkflow("update-ledger", async (ctx, p: Payment) => {
  return await ctx.step("book").run(() => `booked ${p.amount} for ${p.id}`);
}, { triggers: [{ event: "payment.succeeded" }] });

// Registering the workflows stores their subscriptions; events emitted from now on start them.
const worker = await Worker.builder(addr).workflows([sendReceipt, updateLedger]).build();
const running = worker.run();
const client = await Kagzi.connect(addr);
try {
  const hook = await client.createHook("payments", { event: "payment.succeeded", secret });
  console.log(`hook ${hook.name}: POST ${addr}${hook.path}`);

  // The provider's side: sign the raw body, name the delivery, and deliver it twice.
  const body = JSON.stringify({ id: "pay_1", amount: 1299, email: "ana@example.com" });
  const signature = createHmac("sha256", secret).update(body).digest("hex");
  for (const attempt of [1, 2]) {
    const res = await fetch(`${addr}${hook.path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-kagzi-signature": `sha256=${signature}`,
        "idempotency-key": "delivery-pay_1",
      },
      body,
    });
    const answer = await res.json();
    console.log(`delivery ${attempt}: ${res.status} ${JSON.stringify(answer)}`);
  }

  // What the event started: one run per subscribed type, whatever the redeliveries.
  const [event] = (await client.listEvents({ name: "payment.succeeded" })).events;
  for (const r of event.runs) {
    console.log(`${r.workflowType}: ${await client.handle(r.runId).result({ timeout: "30s" })}`);
  }
} finally {
  await worker.shutdown();
  await running;
}
