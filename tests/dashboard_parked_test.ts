/**
 * The dashboard on runs that cannot move by themselves, in headless Chromium against a real
 * server and real workers: a run PARKED by a renamed step shows which step its history has and
 * which the code asked for, and "Resume from here" lets the new code go on; a run of a type no
 * online worker serves says so. Saves screenshots (`run-parked`).
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { artifactsDir, chromiumAvailable, launchBrowser, pageErrors } from "./_browser.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const ran: string[] = [];
const version = (charge: string) => async (ctx: Context) => {
  await ctx.step(charge).run(() => void ran.push(charge));
  await ctx.waitForSignal("go");
  return charge;
};

Deno.test({
  name: "the dashboard explains a parked run and resumes it from here; names an unserved type",
  ignore: !chromiumAvailable(),
  async fn(t) {
    const backend = (await backends()).at(-1)!;
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const before = await Worker.builder(server.url).logger(false)
      .workflows({ order: version("charge-card") }).build();
    let running = before.run();
    const run = await client.start("order").id("order-9");
    await waitFor(
      "the run to wait for its signal",
      async () => (await client.get(run.id)).waits.length > 0,
    );
    await before.shutdown();
    await running;
    const after = await Worker.builder(server.url).logger(false)
      .workflows({ order: version("charge-payment") }).build();
    running = after.run();
    await using browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(20_000);
    const errors = pageErrors(page);
    try {
      await client.signal(run.id, "go");
      await waitFor("the run to park", async () => (await client.get(run.id)).status === "PARKED");

      await t.step("a parked run says which step was expected and which was asked", async () => {
        await page.goto(`${server.url}/ui/runs/${run.id}`);
        const alert = page.getByRole("alert", { name: "Parked" });
        await alert.waitFor();
        assert.match(
          await alert.innerText(),
          /history has step charge-card where its code now asks for step charge-payment/,
        );
        await page.getByText("PARKED").first().waitFor();
        await page.screenshot({ path: `${artifactsDir()}/run-parked.png`, fullPage: true });
      });

      await t.step("Resume from here runs the new code on, the old step set aside", async () => {
        await page.getByRole("button", { name: "Resume from here" }).click();
        await page.getByRole("dialog").getByRole("button", { name: "Resume from here" }).click();
        await page.getByText("Run resumed from here.").waitFor();
        assert.equal(await run.result({ timeout: "20s" }), "charge-payment");
        assert.deepEqual(ran, ["charge-card", "charge-payment"]);
        await page.reload();
        const timeline = page.getByRole("region", { name: "Timeline" });
        await timeline.getByText("charge-card (superseded)", { exact: true }).waitFor();
      });

      await t.step("a run no online worker serves says so", async () => {
        const lonely = await client.start("refund-order");
        await page.goto(`${server.url}/ui/runs/${lonely.id}`);
        await page.getByText(/No online worker serves refund-order \(none has registered it\)/)
          .waitFor();
        await client.cancel(lonely.id);
      });
      assert.deepEqual(errors, []);
    } finally {
      await after.shutdown();
      await running;
    }
  },
});
