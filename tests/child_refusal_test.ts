/**
 * Child starts the server refuses for good, on both backends with a real server: the parent's
 * `ctx.child()` rejects with the refusal's own code naming its cause, promptly, the same on a
 * replay (recorded as the child step's outcome, not asked again), and the parent goes on; its
 * worker does not retry the start forever. A workflow id held by a run of another type is
 * CONFLICT (worker processes, one killed with kill -9 after the refusal); a bad child argument
 * is INVALID_ARGUMENT naming the field, whether the handler or the transport's message check
 * finds it; what the server would refuse before its handler could record it (an input over its
 * limit, a step name it cannot store) the SDK refuses itself, without asking.
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { metricSum } from "./_metrics.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

const startChildCalls = (url: string) =>
  metricSum(url, "kagzi_rpc_duration_seconds_count", { method: "StartChild" });

const kid = defineWorkflow("kid", (_ctx: Context, n: unknown) => Promise.resolve(n));
const show = (e: KagziError) => `${e.code} ${e.subject} ${e.message}`;
/** Each bad child start, caught; a sleep then makes the worker suspend and replay the run. */
const badArgs = defineWorkflow("bad-args", async (ctx: Context) => {
  const out: Record<string, string> = {};
  const tries: Record<string, () => Promise<unknown>> = {
    version: () => ctx.child("v").version("v".repeat(300)).run(kid, 1),
    nul: () => ctx.child("n").id("a\u0000b").run(kid, 1),
    any: () =>
      ctx.any({ k: ctx.child("a").version("\u0007").run(kid, 1), z: ctx.sleep("z", "1h") }),
    stepName: () => ctx.child("s\u0001").run(kid, 1),
    big: () => ctx.child("big").run(kid, "x".repeat(9 * 1024 * 1024)),
  };
  for (const [k, f] of Object.entries(tries)) {
    out[k] = await Promise.resolve().then(f).then(() => "started", show);
  }
  await ctx.sleep("after", "10ms");
  out.ok = String(await ctx.child("ok").run(kid, 2));
  return out;
});

for (const backend of await backends()) {
  Deno.test(`a child whose id is held by a run of another type rejects ctx.child with CONFLICT, also after a kill -9 (${backend})`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    await using journal = await tempJournal();
    const holdFile = await Deno.makeTempFile({ prefix: "kagzi_hold_" });
    const client = await Kagzi.connect(server.url);
    const types = ["child-refused", "type-a", "signal-waiter"];
    const first = await startWorker(server.url, { types, journal: journal.path });
    try {
      // The id's holder: a running run of another type, waiting for a signal.
      const holder = await client.start("signal-waiter").id("taken");
      await waitFor(
        "the holder to run",
        () => readJournal(journal.path).some((e) => e.run === holder.id),
      );
      const began = Date.now();
      const run = await client.start("child-refused").input({ id: "taken", holdFile });
      const mine = () => readJournal(journal.path).filter((e) => e.run === run.id);
      // Not retried: the refusal is caught at once (without the fix this times out).
      await waitFor(
        "the refusal to be caught",
        () => mine().some((e) => e.step === "hold"),
        30_000,
      );
      first.kill("SIGKILL");
      await first.status;
      await Deno.remove(holdFile);
      await using second = await startWorker(server.url, { types, journal: journal.path });
      const out = await run.result({ timeout: "30s" }) as { refused: string; other: string };
      assert.ok(Date.now() - began < 30_000, `the parent took ${Date.now() - began} ms`);
      assert.match(
        out.refused,
        /^CONFLICT workflow_id taken .*"workflow_id" "taken" is held by a running workflow of type "signal-waiter", not "type-a"$/,
      );
      assert.equal(out.other, "A");
      // The replay on the second worker rejected the same way, from the history.
      const refusals = mine().filter((e) => e.step.startsWith("refused:"));
      // (The second worker runs it twice: before c2 starts and after c2 ends.)
      assert.ok(refusals.length >= 2, JSON.stringify(refusals));
      for (const e of refusals) assert.equal(e.step, `refused:${out.refused}`);
      assert.equal(refusals[0].pid, first.pid);
      for (const e of refusals.slice(1)) assert.equal(e.pid, second.pid);
      assert.equal(await startChildCalls(server.url), 2, "c once (not on the replay), c2 once");
      const kids = (await client.list().parent(run.id)).workflows;
      assert.deepEqual(kids.map((k) => k.workflowId), ["taken-free"]);
      assert.equal((await client.get(holder.id)).status, "SLEEPING", "the holder still waits");
    } finally {
      first.kill("SIGKILL");
      await first.status.catch(() => {});
      await Deno.remove(holdFile).catch(() => {});
    }
  });

  Deno.test(`a bad child argument rejects ctx.child with INVALID_ARGUMENT naming the field, the same on replay (${backend})`, async () => {
    await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "200"] });
    const client = await Kagzi.connect(server.url);
    // Sleeps suspend the run: "bad-args" is replayed after its sleep.
    const worker = await Worker.builder(server.url).holdSleeps(0).workflows([kid, badArgs])
      .logger(false).build();
    const running = worker.run();
    try {
      const run = await client.start(badArgs);
      const out = await run.result({ timeout: "30s" });
      assert.match(out.version, /^INVALID_ARGUMENT version .*"version" is 300 characters long/);
      assert.match(out.nul, /^INVALID_ARGUMENT workflow_id .*"workflow_id" contains a NUL/);
      assert.match(out.any, /^INVALID_ARGUMENT version .*"version" "\\u0007" contains control/);
      // What the server would refuse before it could record it is refused by the SDK, unasked.
      assert.match(out.stepName, /^INVALID_ARGUMENT name Invalid child name "s\\u0001"/);
      assert.match(out.big, /^INVALID_ARGUMENT input ctx\.child\("big"\): its input is \d+ bytes/);
      assert.equal(out.ok, "2");
      // v, n and a once (recorded: not asked again on the replay), then ok.
      assert.equal(await startChildCalls(server.url), 4);
      assert.equal((await client.list().parent(run.id)).workflows.length, 1);
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
