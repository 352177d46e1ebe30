/**
 * The dashboard's Tokens section, in headless Chromium against a real server and worker: a
 * pending token shows its callback URL; once a plain HTTP POST completed it, it shows the value.
 * Saves a screenshot (`run-tokens`).
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { artifactsDir, chromiumAvailable, launchBrowser, pageErrors } from "./_browser.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

async function approval(ctx: Context) {
  const t = await ctx.token<{ approved: boolean }>("manager-approval", { timeout: "3 days" });
  return await t.wait();
}

Deno.test({
  name: "the dashboard lists a run's tokens, pending with their URL, then completed",
  ignore: !chromiumAvailable(),
  async fn() {
    const backend = (await backends()).at(-1)!;
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url).logger(false).workflows({ approval }).build();
    const running = worker.run();
    await using browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(20_000);
    const errors = pageErrors(page);
    try {
      const run = await client.start("approval");
      await waitFor("the token", async () => (await client.listTokens(run.id)).length === 1);
      const [token] = await client.listTokens(run.id);
      await page.goto(`${server.url}/ui/runs/${run.id}`);
      const section = page.getByRole("region", { name: "Tokens" });
      await section.getByText("manager-approval").waitFor();
      await section.getByText("pending", { exact: true }).waitFor();
      assert.equal(await section.getByRole("link").getAttribute("href"), token.url);

      const res = await fetch(token.url, { method: "POST", body: '{"approved":true}' });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      await run.result({ timeout: "30s" });
      // The detail page refreshes itself while live.
      await section.getByText("completed", { exact: true }).waitFor();
      await section.getByText('{"approved":true}').waitFor();
      await page.screenshot({ path: `${artifactsDir()}/run-tokens.png`, fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await worker.shutdown();
      await running;
    }
  },
});
