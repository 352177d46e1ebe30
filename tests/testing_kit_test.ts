/**
 * The testing kit (`@kagzi/sdk/testing`): the real server in process on an in-memory database
 * with a virtual clock. Each test breaks if its feature does: skipTime, auto-skip (and that
 * time stands still while the test's own code runs), retry backoffs, signal timeouts, deadlines,
 * schedules, mockStep and disposal. Timings are printed, not asserted.
 */
import assert from "node:assert/strict";
import {
  type Context,
  KagziError,
  Retry,
  SignalTimeoutError,
  WorkflowFailedError,
} from "@kagzi/sdk";
import { TestEnv } from "@kagzi/sdk/testing";

const DAY = 86_400_000;

async function napThenStep(ctx: Context): Promise<string> {
  await ctx.sleep("nap", "2 days");
  return await ctx.step("after").run(() => "woke");
}

/** Sleeps 30 days, then waits 3 days for a signal that never comes. */
async function monthThenSignal(ctx: Context): Promise<string> {
  await ctx.sleep("month", "30 days");
  try {
    return await ctx.waitForSignal<string>("go", { timeout: "3 days" });
  } catch (err) {
    if (err instanceof SignalTimeoutError) return "no signal";
    throw err;
  }
}

async function waitForGo(ctx: Context): Promise<string> {
  return await ctx.waitForSignal<string>("go", { timeout: "1 day" }).catch((err) =>
    err instanceof SignalTimeoutError ? "timed out" : Promise.reject(err)
  );
}

async function flaky(ctx: Context): Promise<string> {
  return await ctx.step("charge")
    .retry(Retry.exponential(5).initial("10m").max("1h"))
    .run(() => `charged by ${ctx.runId}`);
}

async function tick(ctx: Context): Promise<string> {
  return await ctx.step("tock").run(() => ctx.workflowId);
}

/** A sleep short enough for a worker to keep the run through (holdSleeps' default, 1 s). */
async function blink(ctx: Context): Promise<string> {
  await ctx.sleep("blink", "500ms");
  return await ctx.step("after").run(() => "woke");
}

const workflows = { napThenStep, monthThenSignal, waitForGo, flaky, tick, blink };

Deno.test("TestEnv starts the server, a worker and a client", async () => {
  const started = performance.now();
  await using env = await TestEnv.create({ workflows });
  console.log(`TestEnv.create: ${Math.round(performance.now() - started)} ms`);
  assert.equal((await env.client.health()).healthy, true);
  assert.equal(await (await env.client.start("tick").id("t-1")).result(), "t-1");
});

Deno.test("skipTime moves the clock and fires only the timers it passes", async () => {
  await using env = await TestEnv.create({ workflows, autoSkip: false });
  const t0 = env.now().getTime();
  const run = await env.client.start<string>("napThenStep");
  await env.skipTime("1 day");
  assert.equal((await env.client.get(run.id)).status, "SLEEPING");
  assert.ok(env.now().getTime() - t0 >= DAY);
  await env.skipTime("1 day");
  assert.equal((await env.client.get(run.id)).status, "COMPLETED");
  assert.equal(await run.result(), "woke");
  const [nap] = (await env.client.listSteps(run.id)).filter((s) => s.name === "nap");
  assert.ok(nap.wakeUpAt!.getTime() - nap.startedAt!.getTime() >= 2 * DAY - 1_000);
});

Deno.test("a short sleep sleeps on the server, where skipTime wakes it (not kept on the worker)", async () => {
  await using env = await TestEnv.create({ workflows, autoSkip: false });
  const run = await env.client.start<string>("blink");
  await env.settle();
  assert.equal((await env.client.get(run.id)).status, "SLEEPING", "suspended, not held");
  await env.skipTime("1s");
  assert.equal(await run.result(), "woke");
});

Deno.test("auto-skip runs a 30-day sleep and a 3-day signal timeout in a test", async () => {
  await using env = await TestEnv.create({ workflows });
  const started = performance.now();
  const t0 = env.now().getTime();
  const run = await env.client.start<string>("monthThenSignal");
  assert.equal(await run.result({ timeout: "60s" }), "no signal");
  console.log(`30-day sleep + 3-day signal timeout: ${Math.round(performance.now() - started)} ms`);
  assert.ok(env.now().getTime() - t0 >= 33 * DAY);
  const wait = (await env.client.listSteps(run.id)).find((s) => s.kind === "signal")!;
  assert.equal(wait.status, "FAILED");
});

Deno.test("time stands still while the test's code runs, and without auto-skip", async (t) => {
  await t.step("auto-skip waits for the test to await a result", async () => {
    await using env = await TestEnv.create({ workflows });
    const t0 = env.now().getTime();
    const run = await env.client.start<string>("waitForGo");
    await env.settle();
    for (let i = 0; i < 20; i++) {
      assert.equal((await env.client.get(run.id)).status, "SLEEPING");
      await env.settle();
    }
    assert.ok(env.now().getTime() - t0 < DAY, "the clock did not jump");
    await run.signal("go", "went");
    assert.equal(await run.result(), "went");
  });
  await t.step("autoSkip: false never jumps", async () => {
    await using env = await TestEnv.create({ workflows, autoSkip: false });
    const t0 = env.now().getTime();
    const run = await env.client.start<string>("waitForGo");
    await env.settle();
    await assert.rejects(
      () => run.result({ timeout: "200ms" }),
      (e) => e instanceof KagziError && e.code === "TIMEOUT",
    );
    assert.ok(env.now().getTime() - t0 < DAY);
    env.autoSkip = true;
    assert.equal(await run.result(), "timed out");
  });
});

Deno.test("retry backoffs are skipped, with their delays in virtual time", async () => {
  await using env = await TestEnv.create({ workflows });
  let calls = 0;
  env.mockStep("charge", () => {
    if (++calls < 3) throw new Error("declined");
    return "charged";
  });
  await env.skipTime("1 day"); // retry times must be virtual too, not real time plus the delay
  const t0 = env.now().getTime();
  const run = await env.client.start<string>("flaky");
  assert.equal(await run.result({ timeout: "60s" }), "charged");
  const attempts = await env.client.getStep(run.id, "charge");
  assert.deepEqual(attempts.map((a) => a.status), ["FAILED", "FAILED", "COMPLETED"]);
  // Backoffs of 10 and 20 minutes, each within ±20%.
  assert.ok(env.now().getTime() - t0 >= 24 * 60_000);
});

Deno.test("a run past its deadline fails when virtual time passes it", async () => {
  await using env = await TestEnv.create({ workflows });
  const run = await env.client.start<string>("napThenStep")
    .deadline(new Date(env.now().getTime() + DAY));
  await assert.rejects(
    () => run.result({ timeout: "60s" }),
    (e) => e instanceof WorkflowFailedError && /deadline/.test(e.message),
  );
});

Deno.test("schedules fire as virtual time passes their fire times", async () => {
  await using env = await TestEnv.create({ workflows, autoSkip: false });
  await env.client.schedule("nightly").workflow("tick").cron("0 3 * * *").timezone("UTC");
  await env.skipTime("3 days");
  const runs = (await env.client.list().scheduleId("nightly")).workflows;
  assert.equal(runs.length, 3);
  assert.ok(runs.every((r) => r.status === "COMPLETED"));
  assert.deepEqual(
    runs.map((r) => new Date(r.workflowId.split("@")[1]).getUTCHours()),
    [3, 3, 3],
  );
});

Deno.test("mockStep replaces a step from then on; the step is still stored", async () => {
  await using env = await TestEnv.create({ workflows });
  const real = await env.client.start<string>("flaky");
  assert.match(await real.result(), /^charged by /);
  env.mockStep("charge", () => "mocked");
  const mocked = await env.client.start<string>("flaky");
  assert.equal(await mocked.result(), "mocked");
  const [step] = await env.client.getStep(mocked.id, "charge");
  assert.equal(step.status, "COMPLETED");
});

// Deno's sanitizers fail this test if disposal leaves a timer, a poll or a socket behind.
Deno.test("disposing stops the worker, the server and its database", async () => {
  let env: TestEnv | undefined;
  {
    await using scoped = await TestEnv.create({ workflows });
    env = scoped;
    assert.equal(await (await scoped.client.start("tick").id("d-1")).result(), "d-1");
    assert.equal((await scoped.client.health()).databaseOk, true);
  }
  assert.equal((await env.client.health()).databaseOk, false);
  assert.equal(env.worker.stats.completed, 1);
  await env.close(); // again: a no-op
});
