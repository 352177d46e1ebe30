/**
 * A sleep awaited after its wake-up time (made before a slow step, awaited after it) passes at
 * once, and is recorded all the same: a later replay, where the slow step comes back from the
 * history at once and the sleep is still ahead, finds its record instead of asking for a new
 * sleep where the history has later steps (which parked the run as changed code). A sleep due
 * when it is made (a zero duration, a date passed) passes without a record, as in every replay.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const ran: Record<string, number> = {};
const count = (step: string) => (ran[step] = (ran[step] ?? 0) + 1);

async function gap(ctx: Context, input: { slowMs: number }) {
  // Due when made: they pass without a record, in this execution and every replay.
  await ctx.sleep("zero", 0);
  await ctx.sleepUntil("passed", new Date(Date.now() - 60_000));
  // Made now, awaited after the slow step: its 50 ms are over by then.
  const cooling = ctx.sleep("cool-off", "50ms");
  const slow = await ctx.step("slow").run(async () => {
    count("slow");
    await new Promise((r) => setTimeout(r, input.slowMs));
    return "slow";
  });
  await cooling;
  const after = await ctx.step("after").run(() => (count("after"), "after"));
  // Suspends the run: the next execution replays everything above from the history.
  await ctx.sleep("later", "100ms");
  const last = await ctx.step("last").run(() => (count("last"), "last"));
  return [slow, after, last].join(",");
}

for (const backend of await backends()) {
  Deno.test(`a sleep awaited after its wake-up time replays from its record (${backend})`, async () => {
    await using server = await startTestServer(backend);
    const worker = await Worker.builder(server.url).logger(false).holdSleeps(0).workflows({ gap })
      .build();
    const running = worker.run();
    try {
      const client = await Kagzi.connect(server.url);
      for (const k of Object.keys(ran)) delete ran[k];
      const run = await client.start("gap").input({ slowMs: 200 });
      assert.equal(await run.result({ timeout: "20s" }), "slow,after,last");
      const got = await run.get();
      assert.equal(got.status, "COMPLETED");
      assert.deepEqual(ran, { slow: 1, after: 1, last: 1 });
      const steps = await run.steps();
      const sleeps = steps.filter((s) => s.kind === "sleep").map((s) => s.name);
      assert.deepEqual(sleeps.sort(), ["cool-off", "later"]);
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
