/**
 * The dashboard shows a run's streams live, in headless Chromium against a real server and a
 * real worker: values written after the page opened appear without a reload, and the stream
 * reads "closed" once the run closes it. Saves a screenshot (`run-streams`).
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { artifactsDir, chromiumAvailable, launchBrowser, pageErrors } from "./_browser.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

/** Three values, a signal, two more, closed. */
async function report(ctx: Context) {
  const s = ctx.stream<{ step: string; pct: number }>("progress");
  for (const [i, step] of ["fetch", "parse", "index"].entries()) {
    await s.write({ step, pct: (i + 1) * 20 });
  }
  await ctx.waitForSignal("more");
  await s.write({ step: "render", pct: 80 });
  await s.write({ step: "publish", pct: 100 });
  await s.close();
  return "done";
}

Deno.test({
  name: "the dashboard shows a run's stream live: new values appear without a reload, then closed",
  ignore: !chromiumAvailable(),
  async fn() {
    const backend = (await backends()).at(-1)!;
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url).logger(false).workflow("report", report)
      .build();
    const running = worker.run();
    try {
      const run = await client.start("report").input({});
      // The first three values are stored before the page opens.
      for await (const e of client.handle(run.id).stream("progress")) if (e.offset === 2) break;
      await using browser = await launchBrowser();
      const page = await browser.newPage();
      const errors = pageErrors(page);
      await page.goto(`${server.url}/ui/runs/${run.id}`);
      const stream = page.getByRole("region", { name: "Stream progress" });
      await stream.getByText('{"step":"index","pct":60}').waitFor();
      await stream.getByText("live").waitFor();
      assert.equal(await stream.getByText('"step":"publish"').count(), 0);
      await client.handle(run.id).signal("more");
      await stream.getByText('{"step":"publish","pct":100}').waitFor();
      await stream.getByText(/5 values · closed/).waitFor();
      assert.equal(await stream.locator("li").count(), 5);
      await page.screenshot({ path: `${artifactsDir()}/run-streams.png`, fullPage: true });
      assert.equal(await run.result(), "done");
      assert.deepEqual(errors, []);
    } finally {
      await worker.shutdown();
      await running;
    }
  },
});
