/**
 * A browser page (headless Chromium, `@kagzi/sdk/client` bundled, Connect server streaming over
 * HTTP/1.1 fetch from another origin) and the CLI follow a run's stream live while the run
 * writes 100 values and its worker is killed (-9) mid-stream: both get every value once, in
 * order; the page then reads again from an offset. Both backends.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { chromiumAvailable, launchBrowser, pageErrors, serveStatic } from "./_browser.ts";
import { bundleForBrowser } from "./_bundle.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { cliFollow, offsets, within } from "./_streams.ts";
import { leaseFlags, startWorker, waitFor } from "./_worker.ts";

/** In the page: follows the stream into `globalThis.streams[key]`. */
function follow([url, runId, from, key]: readonly [string, string, number, string]) {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const { Kagzi } = g.kagzi as typeof import("@kagzi/sdk/client");
  g.streams ??= {};
  const state = g.streams[key] = { got: [] as unknown[], done: false, error: "" };
  (async () => {
    try {
      const client = await Kagzi.connect(url);
      for await (const e of client.handle(runId).stream("progress", { from })) state.got.push(e);
    } catch (err) {
      state.error = String(err);
    }
    state.done = true;
  })();
}

/** What the page collected for one reader. */
type State = { got: unknown[]; done: boolean; error: string };

const expected = (from = 0) =>
  offsets(100, from).map((i) => ({ offset: i, value: { i, pct: i + 1 } }));

Deno.test({
  name: "a browser page and the CLI follow 100 stream values live across a kill -9 of the worker",
  ignore: !chromiumAvailable(),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "kagzi_streams_browser_" });
    try {
      const js = await bundleForBrowser("sdk/client.ts", `${dir}/kagzi.js`);
      await using site = serveStatic({
        "/": {
          type: "text/html",
          body: `<!doctype html><script type="module">
            import * as kagzi from "/kagzi.js"; globalThis.kagzi = kagzi; document.title = "ready";
          </script>`,
        },
        "/kagzi.js": { type: "text/javascript", body: js },
        "/favicon.ico": { type: "image/x-icon", body: "" },
      });
      await using browser = await launchBrowser();
      for (const backend of await backends()) {
        await t.step(backend, async () => {
          await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
          const client = await Kagzi.connect(server.url);
          const worker = await startWorker(server.url, { types: ["progress"] });
          await using _w = worker;
          const page = await browser.newPage();
          const errors = pageErrors(page);
          await page.goto(site.url);
          await page.waitForFunction('document.title === "ready"');
          const run = await client.start("progress").input({ n: 100, ms: 40 });
          await page.evaluate(follow, [server.url, run.id, 0, "live"] as const);
          const cli = cliFollow(server.url, run.id, "progress");
          const seen = () => page.evaluate("globalThis.streams.live.got.length") as Promise<number>;
          await waitFor("the page saw 25 values", async () => (await seen()) >= 25, 30_000);
          worker.kill("SIGKILL");
          await worker.status;
          assert.ok((await seen()) < 100, "the worker died mid-stream");
          await using _w2 = await startWorker(server.url, { types: ["progress"] });
          await page.waitForFunction("globalThis.streams.live.done", undefined, {
            timeout: 60_000,
          });
          await within(cli.done, 30_000, "the CLI");
          const live = await page.evaluate("globalThis.streams.live") as State;
          assert.equal(live.error, "");
          assert.deepEqual(live.got, expected());
          assert.deepEqual(cli.got, expected());

          await page.evaluate(follow, [server.url, run.id, 60, "again"] as const);
          await page.waitForFunction("globalThis.streams.again.done");
          const again = await page.evaluate("globalThis.streams.again") as State;
          assert.equal(again.error, "");
          assert.deepEqual(again.got, expected(60));
          assert.deepEqual(errors, []);
          await page.close();
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
