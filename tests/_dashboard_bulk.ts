/** The dashboard test's bulk action step: "Act on all matching" reruns FAILED runs of one type. */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type Context, type Kagzi, Retry, type WorkflowFn } from "@kagzi/sdk";
import { waitFor } from "./_worker.ts";

/** "import-row" always fails: its runs are the ones the step reruns. */
export const bulkFlows: Record<string, WorkflowFn> = {
  "import-row": (ctx: Context) =>
    ctx.step("parse").retry(Retry.none()).run((): string => {
      throw new Error("row 7 has no amount");
    }),
};

/**
 * Refuses without a filter, then reruns every FAILED "import-row" run from the Runs screen and
 * follows the progress bar to the end; each of those runs must have exactly one rerun, and a
 * FAILED run of another type (`other`) none more than it had.
 */
export async function bulkRerunFromUi(
  page: Page,
  client: Kagzi,
  url: string,
  other: string,
): Promise<void> {
  const failed = [];
  for (let i = 0; i < 5; i++) failed.push(await client.start("import-row").input({ i }));
  for (const r of failed) await assert.rejects(r.result({ timeout: "30s" }), /no amount/);
  const reruns = async (id: string) => {
    let n = 0;
    for await (const w of client.list().pageSize(500)) if (w.retriedFromRunId === id) n++;
    return n;
  };
  const otherBefore = await reruns(other);

  await page.goto(`${url}/ui/`);
  await page.getByRole("button", { name: "Act on all matching…" }).click();
  await page.getByText(/Set a filter first/).waitFor();
  assert.equal(await page.getByRole("dialog").count(), 0);

  await page.goto(`${url}/ui/?status=FAILED&type=import-row`);
  const rows = page.locator("table.runs tbody tr");
  await waitFor("5 failed import-row runs", async () => (await rows.count()) === 5);
  await page.getByRole("button", { name: "Act on all matching…" }).click();
  const dialog = page.getByRole("dialog");
  // Only the actions valid for FAILED runs are offered.
  assert.equal(await dialog.getByRole("radio", { name: "Cancel" }).count(), 0);
  await dialog.getByRole("radio", { name: "Rerun" }).check();
  await dialog.getByRole("button", { name: "Rerun all matching" }).click();
  const bar = page.getByRole("region", { name: "Bulk operation" });
  await bar.getByText("Rerun: 5/5 done, 5 acted, 0 skipped — finished.").waitFor();
  assert.equal(await bar.locator("progress").getAttribute("value"), "5");
  await bar.getByRole("button", { name: "Dismiss" }).click();

  for (const r of failed) assert.equal(await reruns(r.id), 1, `reruns of ${r.id}`);
  assert.equal(await reruns(other), otherBefore, "a FAILED run of another type is left alone");
}
