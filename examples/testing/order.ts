/**
 * The order workflow of the testing example: the customer may cancel within three days;
 * silence approves the order, which is charged and shipped at the next daily pickup.
 */
import { type Context, Retry, SignalTimeoutError } from "@kagzi/sdk";

/** What an order is started with. */
export interface OrderInput {
  userId: number;
  items: string[];
  total: number;
}

/** What an order ends with. */
export interface OrderOutput {
  orderId: string;
  status: "completed" | "cancelled";
}

// Stand-ins for the services a real order workflow would call.
function fetchUser(id: number) {
  return Promise.resolve({ id, email: `user${id}@example.com` });
}
function chargeCard(user: { id: number }, total: number): Promise<{ transactionId: string }> {
  return Promise.reject(new Error(`the payment provider is unreachable (${user.id}, ${total})`));
}
function createShipment(items: string[]) {
  return Promise.resolve({ trackingId: `ship-${items.length}` });
}

/** Registered as "process-order". */
export async function processOrder(ctx: Context, input: OrderInput): Promise<OrderOutput> {
  const user = await ctx.step("fetch-user").run(() => fetchUser(input.userId));
  try {
    await ctx.waitForSignal("cancel", { timeout: "3 days" });
    return { orderId: "", status: "cancelled" };
  } catch (err) {
    if (!(err instanceof SignalTimeoutError)) throw err;
  }
  await ctx.sleep("next-pickup", "1 day"); // the carrier collects once a day
  const payment = await ctx.step("charge-card")
    .retry(Retry.exponential(5).initial("1h").max("1d"))
    .run(() => chargeCard(user, input.total));
  await ctx.step("create-shipment").run(() => createShipment(input.items));
  return { orderId: payment.transactionId, status: "completed" };
}
