/**
 * The dashboard on a run held back by a concurrency limit, in headless Chromium against a real
 * server and a real worker: the run's page says which key is at its limit, and the type's flow
 * control panel lists the limits and the keys in use with their open and waiting runs. Saves a
 * screenshot (`run-flow-control`).
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, Kagzi, Worker } from "@kagzi/sdk";
import { artifactsDir, chromiumAvailable, launchBrowser, pageErrors } from "./_browser.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

Deno.test({
  name: "the dashboard shows why a run waits, the limits of its type and the keys in use",
  ignore: !chromiumAvailable(),
  async fn() {
    const backend = (await backends()).at(-1)!;
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sync = defineWorkflow(
      "sync-customer",
      async (ctx: Context, _input: { customerId: string }) => {
        await ctx.step("sync").run(() => gate);
        return "ok";
      },
      { concurrency: [{ key: "input.customerId", limit: 1 }, { limit: 20 }], priority: 2 },
    );
    const worker = await Worker.builder(server.url).logger(false).workflow(sync).build();
    const running = worker.run();
    await using browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(20_000);
    const errors = pageErrors(page);
    try {
      const first = await client.start(sync).input({ customerId: "cust-42" });
      await waitFor(
        "the first run to run",
        async () => (await client.get(first.id)).status === "RUNNING",
      );
      const second = await client.start(sync).input({ customerId: "cust-42" });
      await waitFor(
        "the second run to wait",
        async () => (await client.get(second.id)).waitingFor !== undefined,
      );
      await page.goto(`${server.url}/ui/runs/${second.id}`);
      const held = page.getByRole("status", { name: "Held back by a limit" });
      await held.waitFor();
      assert.match(
        await held.innerText(),
        /concurrency limit: input\.customerId = cust-42 has 1 open run, its limit/,
      );
      const panel = page.getByRole("region", { name: "Flow control" });
      await panel.waitFor();
      const text = await panel.innerText();
      assert.match(text, /at most 1 open per input\.customerId; at most 20 open in all/);
      assert.match(text, /default priority 2/);
      assert.match(text, /input\.customerId = cust-42\s+1\/1\s+1/);
      await page.screenshot({ path: `${artifactsDir()}/run-flow-control.png`, fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      release();
      await worker.shutdown();
      await running;
    }
  },
});
