/**
 * The whole program of API.md, runnable: `deno run -A examples/order/main.ts`
 * against a server on http://localhost:50051 (or KAGZI_ADDR). It starts an
 * order, runs it to completion (with a durable 30 s sleep), prints the result
 * and shuts the worker down.
 */
import { type Context, Kagzi, Retry, Worker } from "@kagzi/sdk";

const addr = Deno.env.get("KAGZI_ADDR") ?? "http://localhost:50051";

interface OrderInput {
  userId: number;
  items: string[];
  total: number;
}
interface OrderOutput {
  orderId: string;
  status: string;
}

// Stand-ins for the services a real order workflow would call.
async function fetchUser(id: number) {
  await new Promise((r) => setTimeout(r, 10));
  return { id, email: `user${id}@example.com` };
}
async function chargeCard(user: { id: number }, total: number, signal: AbortSignal) {
  signal.throwIfAborted();
  await new Promise((r) => setTimeout(r, 10));
  return { transactionId: `tx-${user.id}-${Math.round(total * 100)}` };
}
async function createShipment(items: string[]) {
  await new Promise((r) => setTimeout(r, 10));
  return { trackingId: `ship-${items.length}` };
}
async function sendConfirmation(email: string, shipment: { trackingId: string }) {
  await new Promise((r) => setTimeout(r, 10));
  console.log(`emailed ${email} about ${shipment.trackingId}`);
}

async function processOrder(ctx: Context, input: OrderInput): Promise<OrderOutput> {
  // default retry policy (the worker's), output memoized by name
  const user = await ctx.step("fetch-user").run(() => fetchUser(input.userId));

  // per-step retry and timeout; the function may take an AbortSignal
  const payment = await ctx.step("charge-card")
    .retry(Retry.exponential(5).initial("1s").max("30s"))
    .timeout("2m")
    .run((signal) => chargeCard(user, input.total, signal));

  await ctx.sleep("wait-confirmation", "30s"); // durable: survives worker and server restarts
  const shipment = await ctx.step("create-shipment").run(() => createShipment(input.items));

  await ctx.step("send-email").retry(Retry.none()).run(() =>
    sendConfirmation(user.email, shipment)
  );
  return { orderId: payment.transactionId, status: "completed" };
}

const worker = await Worker.builder(addr)
  .namespace("production")
  .maxConcurrent(50)
  .retries(3)
  .workflows({ "process-order": processOrder })
  .build(); // rejects with a clear error when no workflow is registered or the server is unreachable

const client = await Kagzi.connect(addr);
const run = await client
  .start("process-order")
  .namespace("production")
  .input({ userId: 123, items: ["item-1", "item-2"], total: 99.99 })
  .id("order-123"); // idempotency key: starting "order-123" again returns the same run
console.log(run.id, run.alreadyExists);

// Not in API.md: end the program once the order is done.
run.result().then((output) => {
  console.log("result", JSON.stringify(output));
  return worker.shutdown();
});

await worker.run(); // until SIGINT/SIGTERM or worker.shutdown(); then drains gracefully
