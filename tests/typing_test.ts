/**
 * Pins the typing of workflow definitions: `deno check` (and `deno test`, which type-checks)
 * fails when a `@ts-expect-error` line below stops being an error.
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, type Kagzi, Worker, workflowRef } from "@kagzi/sdk";

interface OrderInput {
  userId: number;
}
interface OrderOutput {
  orderId: string;
}

const processOrder = defineWorkflow(
  "process-order",
  (_ctx, input: OrderInput): Promise<OrderOutput> =>
    Promise.resolve({ orderId: `o-${input.userId}` }),
);
const ref = workflowRef<OrderInput, OrderOutput>("process-order");

/** Never called: only type-checked. */
export async function typed(client: Kagzi, ctx: Context): Promise<void> {
  const run = await client.start(processOrder).input({ userId: 1 });
  const out: OrderOutput = await run.result();
  // @ts-expect-error the input must be an OrderInput
  await client.start(processOrder).input({ userId: "1" });
  // @ts-expect-error the result is an OrderOutput, not a number
  const wrong: number = await run.result();
  const viaRef: OrderOutput = await (await client.start(ref).input({ userId: 2 })).result();
  // @ts-expect-error the reference carries the input type too
  await client.start(ref).input({ user: 2 });
  const child: OrderOutput = await ctx.child("c").run(processOrder, { userId: 3 });
  // @ts-expect-error a child's input is checked as well
  await ctx.child("c").run(ref, { userId: true });
  // Strings keep working everywhere, untyped.
  const loose = await client.start("process-order").input({ anything: true });
  const anyOut: unknown = await loose.result();
  const h = await ctx.child("h").start(ref, { userId: 4 });
  const fromHandle: OrderOutput = await h.result();
  void [out, wrong, viaRef, child, anyOut, fromHandle];
}

Deno.test("definitions keep their type name and function; workers accept them", async () => {
  assert.equal(processOrder.type, "process-order");
  assert.equal(ref.type, "process-order");
  assert.deepEqual(await processOrder.fn({} as Context, { userId: 5 }), { orderId: "o-5" });
  assert.throws(() => defineWorkflow("", () => Promise.resolve()), TypeError);
  assert.throws(() => workflowRef(""), TypeError);
  // The builder takes a list of definitions (and refuses a type registered twice).
  assert.throws(
    () => Worker.builder("http://127.0.0.1:1").workflows([processOrder, processOrder]),
    /registered twice/,
  );
});
