/**
 * Flow control on children, on both backends with a real server: a child whose input lacks a
 * key its type's limits need is not started — the parent's `ctx.child()` rejects with
 * INVALID_ARGUMENT naming the type and the key (uncaught it fails the parent, not retried;
 * caught, a replay reads the same refusal from the history); with the key present, children obey
 * the limit.
 */
import assert from "node:assert/strict";
import {
  type Context,
  defineWorkflow,
  Kagzi,
  type KagziError,
  NonRetryableError,
  Worker,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { limitedType, runCount, Spans } from "./_flow_paths.ts";

for (const backend of await backends()) {
  Deno.test(`children obey their type's flow control or fail the parent's start naming the key (${backend})`, async (t) => {
    await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "200"] });
    const client = await Kagzi.connect(server.url);
    const spans = new Spans();
    const kid = limitedType("kid", spans, 300);
    const parent = defineWorkflow(
      "parent",
      async (ctx: Context, input: { kid: unknown }) =>
        await ctx.child("kid").run(kid, input.kid as { c: string }),
    );
    const failing = defineWorkflow("failing", () => Promise.reject(new NonRetryableError("no")));
    const careful = defineWorkflow("careful", async (ctx: Context, input: unknown) => {
      const caught: string[] = [];
      const note = (err: KagziError) => caught.push(`${err.name} ${err.code} ${err.message}`);
      await ctx.child("kid").start(kid, input as { c: string }).then((h) => h.result())
        .catch(note);
      // As a branch of ctx.any the same; a child that ran and failed stays WorkflowFailedError.
      const k2 = ctx.child("k2").run(kid, input as { c: string });
      await ctx.any({ k: k2, nap: ctx.sleep("n", "1h") }).catch(note);
      await ctx.any({ f: ctx.child("f").run(failing, 1), nap: ctx.sleep("n2", "1h") }).catch(note);
      await ctx.sleep("after", "10ms"); // a replay follows: the refusal is read from the history
      return caught;
    });
    // Suspended sleeps: "careful" is replayed after its sleep.
    const worker = await Worker.builder(server.url).holdSleeps(0)
      .workflows([kid, parent, careful, failing]).maxConcurrent(20).logger(false).build();
    const running = worker.run();
    try {
      await t.step("a child whose input lacks the key fails its parent's child start", async () => {
        // Uncaught, the refusal fails the parent (not retried: the input is at fault).
        const p = await client.start(parent).input({ kid: { n: 1 } });
        await assert.rejects(p.result({ timeout: "30s" }), (e: KagziError) => {
          assert.equal(e.code, "INVALID_ARGUMENT");
          assert.match(e.message, /start child workflow of type "kid"/);
          assert.match(e.message, /concurrency key "input\.c" is missing from the input/);
          return true;
        });
        assert.equal((await client.get(p.id)).attempts, 1);
        // Caught, it is an error like any other, the same on the replay.
        const caught = await client.start(careful).input({ n: 1 });
        const errors = await caught.result({ timeout: "30s" });
        assert.equal(errors.length, 3, errors.join("\n"));
        for (const e of errors.slice(0, 2)) {
          assert.match(e, /^KagziError INVALID_ARGUMENT .*type "kid".*"input\.c" is missing/);
        }
        assert.match(errors[2], /^WorkflowFailedError /);
        assert.equal(await runCount(client, "kid"), 0);
      });

      await t.step("with the key, children obey the limit", async () => {
        const parents = await Promise.all(
          ["a", "a", "a", "b", "b"].map((c) => client.start(parent).input({ kid: { c } })),
        );
        const outs = await Promise.all(parents.map((p) => p.result({ timeout: "60s" })));
        assert.deepEqual(outs, ["a", "a", "a", "b", "b"]);
        assert.equal(spans.size, 5);
        assert.equal(spans.peaks().perKey, 1);
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
