/**
 * A run of a type (or version) no online worker serves does not wait silently: the start
 * answers with a warning, `get()` and `kagzi run show` say since when, a gauge counts such
 * runs, and all of it clears once a worker serving the type registers.
 */
import assert from "node:assert/strict";
import { Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { expect, kagzi } from "./_cli.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

async function unservedGauge(url: string, type: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(
    `^kagzi_runs_unserved\\{namespace="default",workflow_type="${type}"\\} (\\d+)$`,
    "m",
  ).exec(text);
  return m ? Number(m[1]) : 0;
}

Deno.test(`a type no online worker serves is named at start, in get(), run show and a gauge (${backend})`, async (t) => {
  await using server = await startTestServer(backend);
  const client = await Kagzi.connect(server.url);
  const cli = (...args: string[]) => kagzi(args, { KAGZI_ADDRESS: server.url });

  const waiting = await client.start("refund-order").input({ orderId: "o-1" }).id("refund-1");
  await t.step("never served: the start warns, get() and run show say so", async () => {
    assert.match(
      waiting.warning ?? "",
      /^No online worker serves workflow "refund-order" in namespace "default" \(none has registered it\); the run waits until one does$/,
    );
    const w = await client.get(waiting.id);
    assert.equal(w.status, "PENDING");
    assert.deepEqual(w.unserved, { lastServedAt: undefined });
    const shown = expect(await cli("run", "show", "refund-1", "-o", "table"), 0, "show").stdout;
    assert.match(
      shown,
      /Unserved:\s+no online worker serves refund-order \(none ever registered it\)/,
    );
    const started = expect(
      await cli("run", "start", "refund-order", "--id", "refund-2"),
      0,
      "start",
    );
    assert.match(started.stderr, /kagzi: warning: No online worker serves workflow "refund-order"/);
    assert.match(started.json().warning, /No online worker serves/);
    await waitFor(
      "the gauge to count both runs",
      async () => (await unservedGauge(server.url, "refund-order")) === 2,
    );
  });

  const worker = await Worker.builder(server.url).logger(false).workflows({
    "refund-order": (ctx, input: { orderId: string }) =>
      ctx.step("refund").run(() => `refunded ${input.orderId}`),
  }).build();
  let running: Promise<void> | undefined = worker.run();
  try {
    await t.step("a worker for the type registers: the runs go, nothing warns", async () => {
      assert.equal(await waiting.result({ timeout: "20s" }), "refunded o-1");
      const next = await client.start("refund-order").input({ orderId: "o-3" });
      assert.equal(next.warning, undefined);
      assert.equal(await next.result({ timeout: "20s" }), "refunded o-3");
      await waitFor(
        "the gauge to clear",
        async () => (await unservedGauge(server.url, "refund-order")) === 0,
      );
      // Another version of the type is not served by this unversioned worker.
      const v2 = await client.start("refund-order").version("2").input({ orderId: "o-4" });
      assert.match(v2.warning ?? "", /workflow "refund-order" version "2"/);
      await client.cancel(v2.id);
    });
  } finally {
    await worker.shutdown();
    await running;
    running = undefined;
  }

  await t.step("the last worker left: get() and the next start say since when", async () => {
    const { workers } = await client.listWorkers({ type: "refund-order" });
    const lastSeen = workers[0].lastHeartbeatAt!;
    const run = await client.start("refund-order").input({ orderId: "o-5" });
    // A "served" answer is reused for up to two seconds: await the fresh one.
    await waitFor(
      "get() to report the type unserved",
      async () => (await client.get(run.id)).unserved !== undefined,
    );
    const w = await client.get(run.id);
    assert.equal(w.unserved?.lastServedAt?.getTime(), lastSeen.getTime());
    const next = await client.start("refund-order").input({ orderId: "o-6" });
    assert.match(next.warning ?? "", new RegExp(`since ${lastSeen.toISOString()}`));
  });
});
