/**
 * The dashboard in headless Chromium against a real server (API keys on) and real workers:
 * sign in, see finished and running runs, filter, open a run's timeline with a failed-then-
 * retried attempt and a child, send a signal, cancel, retry, bulk-cancel 10 runs, bulk-rerun
 * every FAILED run of a type with live progress, drain a worker, pause and trigger a schedule —
 * each verified through the SDK. Saves screenshots
 * (`KAGZI_SCREENSHOTS=docs/screenshots` writes the README's).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type Context, Kagzi, Retry, Worker, type WorkflowFn } from "@kagzi/sdk";
import { bulkFlows, bulkRerunFromUi } from "./_dashboard_bulk.ts";
import { artifactsDir, chromiumAvailable, launchBrowser, pageErrors } from "./_browser.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const key = "dashboard-test-key-0123456789";
const fast = ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200", "--api-keys", key];

let broken = true; // what fails "fragile" until the test "fixes" it and retries from the UI
const failedOnce = new Set<string>();
let charges = 0; // calls of "charge-card": a rerun from a later step must not call it again
const flows: Record<string, WorkflowFn> = {
  order: async (ctx: Context, input: { total: number }) => {
    const payment = await ctx.step("charge-card")
      .retry(Retry.exponential(3).initial("100ms"))
      .run(() => {
        charges++;
        if (!failedOnce.has(ctx.runId)) {
          failedOnce.add(ctx.runId);
          throw new Error("card network timed out");
        }
        return { id: `pay-${input.total}` };
      });
    await ctx.sleep("settle", "200ms");
    const receipt = await ctx.child("receipt").run("receipt", { payment: payment.id });
    return { payment: payment.id, receipt };
  },
  receipt: (ctx: Context, input: { payment: string }) =>
    ctx.step("render").run(() => `receipt for ${input.payment}`),
  approval: (ctx: Context) => ctx.waitForSignal<{ by: string }>("approve"),
  long: (ctx: Context) => ctx.sleep("cool-off", "1h"),
  fragile: (ctx: Context) =>
    ctx.step("call-partner").retry(Retry.none()).run(() => {
      if (broken) throw new Error("partner API answered 503");
      return "ok";
    }),
  ...bulkFlows,
};

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${artifactsDir()}/${name}.png`, fullPage: true });
}

/** Postgres when there is one (quicker to start), else embedded. */
const backend = (await backends()).at(-1)!;

Deno.test({
  name:
    `the dashboard shows, filters and acts on runs, workers and schedules in Chromium (${backend})`,
  ignore: !chromiumAvailable(),
  async fn(t) {
    await using server = await startTestServer(backend, { args: fast });
    const client = await Kagzi.connect(server.url, { apiKey: key });
    const worker = await Worker.builder(server.url).apiKey(key).hostname("worker-main")
      .workflows(flows).build();
    const drainMe = await Worker.builder(server.url).apiKey(key).hostname("worker-to-drain")
      .workflows({ long: flows.long }).build();
    const running = [worker.run(), drainMe.run()];
    await using browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(20_000);
    const errors = pageErrors(page);
    const dialog = () => page.getByRole("dialog");
    try {
      // Runs in every state, started and driven by the SDK and the real workers.
      const order = await client.start("order").input({ total: 42 }).id("order-42")
        .tags({ customer: "acme", tier: "gold" });
      await order.result({ timeout: "30s" });
      const approval = await client.start("approval").id("approval-7");
      const long = await client.start("long").id("cool-down-1");
      const fragile = await client.start("fragile").input({ partner: "acme" }).id("sync-acme")
        .tags({ customer: "zeta" });
      await assert.rejects(fragile.result({ timeout: "30s" }), /503/);
      await waitFor("waiting runs", async () =>
        (await client.get(approval.id)).waits.length > 0 &&
        (await client.get(long.id)).status === "SLEEPING");
      await client.schedule("nightly-report").workflow("receipt").cron("0 3 * * *")
        .timezone("Europe/Berlin").input({ payment: "nightly" });

      await t.step("asks for the API key, then shows finished and running runs", async () => {
        await page.goto(`${server.url}/ui/`);
        await page.getByLabel("API key").fill(key);
        await page.getByRole("button", { name: "Connect" }).click();
        const table = page.getByRole("table");
        await table.getByRole("link", { name: order.id.slice(0, 8) }).waitFor();
        await table.getByText("COMPLETED").first().waitFor();
        await table.getByText("SLEEPING").first().waitFor();
        await shot(page, "runs");
      });

      await t.step("filters by status, kept in the URL", async () => {
        await page.getByLabel("Status").selectOption("FAILED");
        await page.waitForURL(/status=FAILED/);
        const rows = page.locator("table.runs tbody tr");
        await waitFor("only the failed run", async () => (await rows.count()) === 1);
        assert.match(await rows.first().innerText(), /sync-acme[\s\S]*FAILED/);
        await page.reload();
        await waitFor(
          "the filter survives a reload",
          async () => (await rows.count()) === 1 && /FAILED/.test(await rows.first().innerText()),
        );
      });

      await t.step("shows tags and filters by a tag, clicked or typed", async () => {
        await page.goto(`${server.url}/ui/`);
        const rows = page.locator("table.runs tbody tr");
        const orderRow = rows.filter({ hasText: "order-42" });
        await orderRow.getByRole("button", { name: "customer=acme" }).click();
        await page.waitForURL(/tags=customer%3Dacme/);
        await waitFor("only the acme run", async () => (await rows.count()) === 1);
        assert.match(await rows.first().innerText(), /order-42[\s\S]*tier=gold/);
        await page.getByLabel("Tags").fill("customer=zeta");
        await page.getByLabel("Tags").press("Enter");
        await waitFor(
          "only the zeta run",
          async () =>
            (await rows.count()) === 1 && /sync-acme/.test(await rows.first().innerText()),
        );
        await shot(page, "runs-tag-filter");
        await page.getByLabel("Tags").fill("customer=nobody");
        await page.getByLabel("Tags").press("Enter");
        await page.getByText("No runs match these filters.").waitFor();
        await page.goto(`${server.url}/ui/runs/${order.id}`);
        await page.getByRole("link", { name: "tier=gold" }).waitFor();
      });

      await t.step(
        "a run's timeline shows the failed, then retried attempt and the child",
        async () => {
          await page.goto(`${server.url}/ui/runs/${order.id}`);
          const timeline = page.getByRole("region", { name: "Timeline" });
          const charge = timeline.locator("li", { hasText: "charge-card" });
          await charge.getByText("card network timed out").waitFor();
          const attempts = charge.locator("tbody tr");
          assert.equal(await attempts.count(), 2);
          assert.match(await attempts.nth(0).innerText(), /1\s+FAILED/);
          assert.match(await attempts.nth(1).innerText(), /2\s+COMPLETED/);
          await timeline.locator(".step-head", { hasText: "settle" }).waitFor();
          await timeline.getByRole("link", { name: /child run/ }).waitFor();
          await page.getByRole("region", { name: "Children" }).getByText("receipt").waitFor();
          // The waterfall: one bar per attempt on the time axis, the retry's wait a dashed gap.
          const fall = page.getByRole("region", { name: "Waterfall" });
          const chargeRow = fall.locator('li[data-step="charge-card"]');
          const bars = chargeRow.locator("rect.wf-bar");
          await waitFor("two bars for charge-card", async () => (await bars.count()) === 2);
          assert.equal(await bars.nth(0).getAttribute("data-status"), "FAILED");
          assert.equal(await bars.nth(1).getAttribute("data-status"), "COMPLETED");
          const x = async (i: number) => Number(await bars.nth(i).getAttribute("x"));
          assert.ok((await x(1)) > (await x(0)), "the retry is drawn after the first attempt");
          assert.equal(await chargeRow.locator("line.wf-gap").count(), 1);
          assert.match(
            (await chargeRow.locator("line.wf-gap").getAttribute("aria-label")) ?? "",
            /charge-card waited \d+ ms before attempt 2/,
          );
          const settleBar = fall.locator('li[data-step="settle"] rect.wf-bar');
          assert.equal(await settleBar.count(), 1);
          assert.ok(Number(await settleBar.getAttribute("x")) > (await x(1)), "sleep after step");
          await fall.locator('li[data-step="receipt"] rect.wf-bar').waitFor();
          await shot(page, "run-timeline");
        },
      );

      await t.step("Rerun from here reuses the steps before it and opens the new run", async () => {
        const before = charges;
        const settle = page.getByRole("region", { name: "Timeline" })
          .locator("li", { hasText: "settle" });
        await settle.getByRole("button", { name: "Rerun from settle" }).click();
        await dialog().getByRole("button", { name: "Start rerun" }).click();
        await page.waitForURL((u) =>
          /\/ui\/runs\//.test(u.pathname) && !u.pathname.endsWith(order.id)
        );
        const newId = page.url().split("/runs/")[1].split("?")[0];
        assert.equal((await client.get(newId)).retriedFromRunId, order.id);
        assert.deepEqual(
          await client.handle(newId).result({ timeout: "30s" }),
          { payment: "pay-42", receipt: "receipt for pay-42" },
        );
        assert.equal(charges, before, "charge-card kept its stored output");
        await page.getByRole("link", { name: order.id }).waitFor(); // "Retry of"
      });

      await t.step("pauses and resumes a run", async () => {
        const held = await client.start("approval").id("approval-held");
        await waitFor("the run waits", async () => (await client.get(held.id)).waits.length > 0);
        await page.goto(`${server.url}/ui/runs/${held.id}`);
        await page.getByRole("button", { name: "Pause" }).click();
        await dialog().getByRole("button", { name: "Pause run" }).click();
        await page.getByText("Run paused.").waitFor();
        assert.equal((await client.get(held.id)).status, "PAUSED");
        await page.locator("#run-title").getByText("PAUSED").waitFor();
        await page.getByRole("button", { name: "Resume" }).click();
        await dialog().getByRole("button", { name: "Resume" }).click();
        await page.getByText("Run resumed.").waitFor();
        assert.notEqual((await client.get(held.id)).status, "PAUSED");
        await client.signal(held.id, "approve", { by: "bo" });
        assert.deepEqual(await held.result({ timeout: "30s" }), { by: "bo" });
      });

      await t.step("Send signal delivers to the waiting run", async () => {
        await page.goto(`${server.url}/ui/runs/${approval.id}`);
        await page.getByText('Waiting for signal "approve"').waitFor();
        await page.getByRole("button", { name: "Send signal" }).click();
        await dialog().getByLabel("Signal name").fill("approve");
        await dialog().getByLabel("Payload").fill('{"by": "ana"}');
        await dialog().getByRole("button", { name: "Send signal" }).click();
        await page.getByText('Signal "approve" sent.').waitFor();
        assert.deepEqual(await approval.result({ timeout: "30s" }), { by: "ana" });
      });

      await t.step("a payload that is not JSON is refused in plain words", async () => {
        const waiting = await client.start("approval").id("approval-8");
        await page.goto(`${server.url}/ui/runs/${waiting.id}`);
        await page.getByRole("button", { name: "Send signal" }).click();
        await dialog().getByLabel("Signal name").fill("approve");
        await dialog().getByLabel("Payload").fill("{by: ana}");
        await dialog().getByRole("button", { name: "Send signal" }).click();
        await dialog().getByRole("alert").getByText(/not valid JSON/).waitFor();
        await dialog().getByRole("button", { name: "Close" }).click();
        await client.cancel(waiting.id);
      });

      await t.step("Cancel run cancels it", async () => {
        await page.goto(`${server.url}/ui/runs/${long.id}`);
        await page.getByRole("button", { name: "Cancel run" }).click();
        await dialog().getByLabel("Reason").fill("not needed");
        await dialog().getByRole("button", { name: "Cancel run" }).click();
        await page.getByText("Run cancelled.").waitFor();
        const w = await client.get(long.id);
        assert.equal(w.status, "CANCELLED");
        assert.match(w.error?.message ?? "", /not needed/);
      });

      await t.step("Retry starts a linked run of a failed one", async () => {
        broken = false;
        await page.goto(`${server.url}/ui/runs/${fragile.id}`);
        await page.getByRole("button", { name: "Retry" }).click();
        await dialog().getByRole("button", { name: "Start retry" }).click();
        await page.waitForURL((u) =>
          /\/ui\/runs\//.test(u.pathname) && !u.pathname.endsWith(fragile.id)
        );
        const newId = page.url().split("/runs/")[1].split("?")[0];
        await page.getByRole("link", { name: fragile.id }).waitFor(); // "Retry of"
        const retried = await client.get(newId);
        assert.equal(retried.retriedFromRunId, fragile.id);
        assert.equal(retried.workflowId, "sync-acme");
        await waitFor(
          "the retry completes",
          async () => (await client.get(newId)).status === "COMPLETED",
        );
      });

      await t.step("bulk-cancels 10 runs", async () => {
        const batch = [];
        for (let i = 0; i < 10; i++) batch.push(await client.start("batch").input({ i }));
        await page.goto(`${server.url}/ui/?type=batch`);
        const rows = page.locator("table.runs tbody tr");
        await waitFor("10 batch runs", async () => (await rows.count()) === 10);
        await page.getByLabel("Select every run on this page").check();
        await page.getByRole("button", { name: "Cancel selected (10)" }).click();
        await dialog().getByRole("button", { name: "Cancel runs" }).click();
        await page.getByText("Cancelled 10 run(s).").waitFor();
        for (const r of batch) assert.equal((await client.get(r.id)).status, "CANCELLED");
      });

      await t.step(
        "reruns every FAILED run of a type, following the bulk progress",
        () => bulkRerunFromUi(page, client, server.url, fragile.id),
      );

      await t.step("drains a worker", async () => {
        await page.goto(`${server.url}/ui/workers`);
        const row = page.locator("tr", { hasText: "worker-to-drain" });
        await row.getByRole("button", { name: "Drain" }).click();
        await dialog().getByRole("button", { name: "Drain" }).click();
        await page.getByText(/is draining/).waitFor();
        await running[1]; // its run() returns once it has drained
        const w = await client.getWorker(drainMe.id);
        assert.notEqual(w.status, "ONLINE");
        await page.locator("tr", { hasText: "worker-main" }).getByText("HEALTHY").waitFor();
        await shot(page, "workers");
      });

      await t.step("pauses and triggers a schedule", async () => {
        await page.goto(`${server.url}/ui/schedules`);
        const row = page.locator("tr", { hasText: "nightly-report" });
        await row.getByRole("button", { name: "Pause" }).click();
        await row.getByRole("button", { name: "Resume" }).waitFor();
        assert.equal((await client.getSchedule("nightly-report")).enabled, false);
        await shot(page, "schedules");
        await row.getByRole("button", { name: "Trigger now" }).click();
        await page.waitForURL(/\/ui\/runs\//);
        const runs = await client.list().scheduleId("nightly-report");
        assert.equal(runs.workflows.length, 1);
        assert.ok(page.url().includes(runs.workflows[0].id));
      });
      await t.step("the overview charts runs per minute and per type from the store", async () => {
        await page.goto(`${server.url}/ui/overview`);
        // "sync-acme" failed once, then its retry completed.
        const fragileRow = page.locator('table.overview tr[data-type="fragile"]');
        await waitFor(
          "the fragile row",
          async () => /fragile\s+2\s+1\s+1/.test(await fragileRow.innerText().catch(() => "")),
        );
        const sums = async () => {
          const out: Record<string, number> = {};
          for (const s of ["begun", "completed", "failed"]) {
            const values = await page.locator(`polyline[data-series="${s}"]`)
              .getAttribute("data-values");
            out[s] = (values ?? "").split(",").reduce((n, v) => n + Number(v), 0);
          }
          return out;
        };
        await fragileRow.getByRole("link", { name: "fragile" }).click();
        await page.waitForURL(/overview\?type=fragile/);
        await page.getByRole("img", { name: /Runs of fragile begun/ }).waitFor();
        assert.deepEqual(await sums(), { begun: 2, completed: 1, failed: 1 });
        await page.getByLabel("Workflow type").selectOption("");
        await page.getByRole("img", { name: /Runs of every type/ }).waitFor();
        const stats = await client.runStats();
        const all = (k: "begun" | "completed" | "failed") =>
          stats.buckets.reduce((n, b) => n + b[k], 0);
        const shown = await sums();
        assert.ok(shown.begun > 0 && shown.failed === all("failed"), "every type");
        await shot(page, "overview");
      });
      // Refused calls before signing in log a 401; nothing else may fail in the page.
      assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
    } finally {
      await worker.shutdown();
      await drainMe.shutdown().catch(() => {});
      await Promise.allSettled(running);
    }
  },
});
