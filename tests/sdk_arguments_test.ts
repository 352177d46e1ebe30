/**
 * The SDK refuses a bad argument as INVALID_ARGUMENT naming the field and the value, before any
 * request: never an INTERNAL error from a conversion, against a real server.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, KagziError, Worker, WorkflowFailedError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

/** Asserts that `p` rejects with INVALID_ARGUMENT about `field`, its message matching `message`. */
async function assertInvalid(p: Promise<unknown>, field: string, message: RegExp) {
  await assert.rejects(p, (e: KagziError) => {
    assert.ok(e instanceof KagziError, String(e));
    assert.equal(e.code, "INVALID_ARGUMENT", e.message);
    assert.equal(e.subject, field, e.message);
    assert.match(e.message, message);
    return true;
  });
}

async function sleepsUntil(ctx: Context, input: { at: string }) {
  await ctx.sleepUntil("then", new Date(input.at));
  return "woke";
}

const backend = (await backends()).at(-1)!; // Postgres when there is one: quicker to start
Deno.test(`the SDK refuses bad arguments naming the field (${backend})`, async (t) => {
  await using server = await startTestServer(backend);
  const client = await Kagzi.connect(server.url);

  await t.step("an invalid Date names deadline, since or until", async () => {
    await assertInvalid(
      client.start("simple").input({}).deadline(new Date("nope")),
      "deadline",
      /^Cannot start workflow "simple": "deadline" must be a valid Date, not an invalid Date$/,
    );
    await assertInvalid(
      client.bulk().type("simple").since(new Date("x")).cancel(),
      "since",
      /^Cannot start a bulk cancel: "since" must be a valid Date, not an invalid Date$/,
    );
    await assertInvalid(
      client.bulk().type("simple").until(new Date(NaN)).rerun(),
      "until",
      /"until" must be a valid Date, not an invalid Date$/,
    );
    await assertInvalid(
      client.bulk().type("simple").since("2024-01-01" as unknown as Date).pause(),
      "since",
      /"since" must be a valid Date, not the string "2024-01-01"$/,
    );
    // Nothing was started or stored.
    assert.equal((await client.list().type("simple")).workflows.length, 0);
  });

  await t.step("ctx.sleepUntil with an invalid Date fails the run naming date", async () => {
    const worker = await Worker.builder(server.url).workflow("sleeps-until", sleepsUntil).build();
    const running = worker.run();
    try {
      const run = await client.start("sleeps-until").input({ at: "not a time" });
      await assert.rejects(run.result({ timeout: "30s" }), (e: Error) => {
        assert.ok(e instanceof WorkflowFailedError, String(e));
        assert.match(
          e.message,
          /ctx\.sleepUntil\("then"\): "date" must be a valid Date, not an invalid Date/,
        );
        return true;
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
});
