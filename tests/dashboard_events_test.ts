/**
 * The dashboard's Events screen in headless Chromium against a real server: it lists the
 * namespace's hooks (never their secrets), the types subscribed to each event, and the recent
 * events with links to the runs they started; deleting a hook there refuses later deliveries.
 * Saves a screenshot (`events`).
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { artifactsDir, chromiumAvailable, launchBrowser, pageErrors } from "./_browser.ts";
import { startTestServer } from "./_server.ts";

const secret = "whsec_dashboard_secret_value";

Deno.test({
  name: "the dashboard lists hooks, subscriptions and events with their runs, and deletes a hook",
  ignore: !chromiumAvailable(),
  async fn() {
    await using server = await startTestServer("embedded");
    const client = await Kagzi.connect(server.url);
    const noop = (_ctx: Context, input: unknown) => Promise.resolve(input);
    const worker = await Worker.builder(server.url).logger(false)
      .workflow("email-receipt", noop, { triggers: [{ event: "order.created" }] }).build();
    await worker.shutdown();
    await client.createHook("stripe-events", { workflow: "handle-payment", secret });
    const e = await client.emit("order.created", { orderId: "o-1" }, { id: "evt-o-1" });

    await using browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(20_000);
    const errors = pageErrors(page);
    await page.goto(`${server.url}/ui/events`);
    const hooks = page.getByRole("table", { name: "Hooks" });
    await hooks.getByRole("cell", { name: "stripe-events", exact: true }).waitFor();
    assert.match(await hooks.innerText(), /a run of handle-payment/);
    assert.match(await hooks.innerText(), /\/v1\/hooks\/default\/stripe-events/);
    assert.ok(!(await page.content()).includes(secret), "the secret is not on the page");
    const subs = page.getByRole("table", { name: "Subscriptions" });
    assert.match(await subs.innerText(), /order\.created\s+email-receipt/);
    const recent = page.getByRole("table", { name: "Recent events" });
    const link = recent.getByRole("link", { name: /email-receipt/ });
    assert.equal(
      await link.getAttribute("href"),
      `/ui/runs/${e.runs[0].runId}`,
      "the event links to the run it started",
    );
    await page.screenshot({ path: `${artifactsDir()}/events.png`, fullPage: true });

    await hooks.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await page.getByText("Hook stripe-events deleted").waitFor();
    assert.deepEqual(await client.listHooks(), []);
    assert.deepEqual(errors, []);
  },
});
