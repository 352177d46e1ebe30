/** `kagzi run …` names a run by its workflow id as well as its run id; `run list --parent`. */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { expect, kagzi } from "./_cli.ts";

async function gated(ctx: Context) {
  const by = await ctx.waitForSignal<string>("go");
  return await ctx.step("after").run(() => `went for ${by}`);
}

async function parent(ctx: Context) {
  return await ctx.child("kid").run("gated", null);
}

Deno.test("kagzi run show|result|signal|cancel|retry take a workflow id; run list --parent", async (t) => {
  const all = await backends();
  await using server = await startTestServer(all.includes("postgres") ? "postgres" : all[0]);
  const cli = (...args: string[]) => kagzi(args, { KAGZI_ADDRESS: server.url });
  const worker = await Worker.builder(server.url).workflows({ gated, parent }).build();
  const running = worker.run();
  const client = await Kagzi.connect(server.url);
  try {
    await t.step("show, signal and result by workflow id", async () => {
      const run = await client.start("gated").id("order-7");
      const shown = expect(await cli("run", "show", "order-7"), 0, "show by workflow id").json();
      assert.equal(shown.runId, run.id);
      assert.equal(shown.workflowId, "order-7");
      await waitFor(
        "the run to wait for its signal",
        async () => (await client.get(run.id)).waits.length === 1,
      );
      const sent = expect(
        await cli("run", "signal", "order-7", "go", "--payload", '"ana"'),
        0,
        "signal by workflow id",
      ).json();
      assert.equal(sent.runId, run.id);
      const out = expect(await cli("run", "result", "order-7"), 0, "result by workflow id");
      assert.equal(out.json(), "went for ana");
      // By run id, as before.
      assert.equal(
        expect(await cli("run", "result", run.id), 0, "by run id").json(),
        "went for ana",
      );
    });

    await t.step(
      "a reused workflow id names its newest run: retry and cancel reach it",
      async () => {
        const first = (await client.list().workflowId("order-7")).workflows[0].id;
        const retried = expect(await cli("run", "retry", "order-7"), 0, "retry by workflow id")
          .json();
        assert.equal(retried.retriedFromRunId, first);
        const shown = expect(await cli("run", "show", "order-7"), 0, "show the newest").json();
        assert.equal(shown.runId, retried.runId);
        const cancelled = expect(await cli("run", "cancel", "order-7"), 0, "cancel").json();
        assert.deepEqual(cancelled.map((r: { runId: string }) => r.runId), [retried.runId]);
        assert.equal(cancelled[0].error.code, "CANCELLED");
        const r = expect(await cli("run", "result", "order-7"), 1, "a cancelled run's result");
        assert.match(r.stderr, /CANCELLED/);
      },
    );

    await t.step("run list --parent takes a run id or a workflow id", async () => {
      const p = await client.start("parent").id("p-1");
      await waitFor(
        "the child to start",
        async () => (await client.list().parent(p.id)).workflows.length === 1,
      );
      for (const ref of ["p-1", p.id]) {
        const kids = expect(await cli("run", "list", "--parent", ref), 0, `--parent ${ref}`).json();
        assert.deepEqual(kids.map((k: { type: string }) => k.type), ["gated"]);
      }
      const none = expect(await cli("run", "list", "--parent", "order-7"), 0, "no children");
      assert.deepEqual(none.json(), []);
      await client.cancel(p.id);
    });

    await t.step("a name that is neither is NOT_FOUND (exit 3) saying so", async () => {
      const r = expect(await cli("run", "show", "no-such-order"), 3, "unknown");
      assert.match(r.stderr, /Run "no-such-order" was not found in namespace "default"/);
      assert.match(r.stderr, /neither as a run id nor as a workflow id/);
    });
  } finally {
    await worker.shutdown();
    await running;
  }
});
