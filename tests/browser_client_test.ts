/**
 * `@kagzi/sdk/client` bundled as one file, loaded by headless Chromium from a page on another
 * origin, drives real servers over Connect with CORS: connect, start, get, list, cancel, on a
 * server without API keys and on one with keys (refused without the key, served with it).
 */
import assert from "node:assert/strict";
import { chromiumAvailable, launchBrowser, pageErrors, serveStatic } from "./_browser.ts";
import { bundleForBrowser, gzipSize, nodeImports } from "./_bundle.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const key = "browser-test-key-0123456789";

/** What the page does with the SDK, serialised into plain results. */
async function inPage([url, apiKey]: readonly [string, string | undefined]) {
  // deno-lint-ignore no-explicit-any
  const { Kagzi } = (globalThis as any).kagzi as typeof import("@kagzi/sdk/client");
  try {
    const client = await Kagzi.connect(url, { apiKey });
    const run = await client.start("browser").input({ from: location.origin }).id("b-1");
    const again = await client.start("browser").id("b-1");
    const got = await client.get(run.id);
    const page = await client.list().type("browser");
    const cancelled = await client.cancel(run.id).reason("from the browser");
    return {
      ok: true,
      id: run.id,
      alreadyExists: again.alreadyExists,
      input: got.input,
      status: got.status,
      listed: page.workflows.map((w) => w.id),
      cancelled: cancelled.status,
    };
  } catch (err) {
    const e = err as { code?: string; message?: string; name?: string };
    return { ok: false, name: e.name, code: e.code, message: e.message };
  }
}

/** Postgres when there is one (quicker to start), else embedded. */
const backend = (await backends()).at(-1)!;

Deno.test({
  name: `the client bundle runs in Chromium from another origin against real servers (${backend})`,
  ignore: !chromiumAvailable(),
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "kagzi_browser_" });
    try {
      const js = await bundleForBrowser("sdk/client.ts", `${dir}/kagzi.js`);
      assert.deepEqual(nodeImports(js), []);
      console.log(
        `client bundle: ${(js.length / 1024).toFixed(1)} KiB minified, ` +
          `${((await gzipSize(js)) / 1024).toFixed(1)} KiB gzipped`,
      );
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
      await using open = await startTestServer(backend);
      await using locked = await startTestServer(backend, { args: ["--api-keys", key] });
      await using browser = await launchBrowser();
      const page = await browser.newPage();
      const errors = pageErrors(page);
      await page.goto(site.url);
      await page.waitForFunction('document.title === "ready"');

      await t.step("without keys: connect, start, get, list, cancel", async () => {
        const r = await page.evaluate(
          inPage,
          [open.url, undefined] as [string, string | undefined],
        );
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.alreadyExists, true);
        assert.deepEqual(r.input, { from: site.url });
        assert.equal(r.status, "PENDING");
        assert.deepEqual(r.listed, [r.id]);
        assert.equal(r.cancelled, "CANCELLED");
      });

      await t.step("with keys on: refused without a key or with a wrong one", async () => {
        for (const k of [undefined, "not-the-right-key-000000"]) {
          const r = await page.evaluate(inPage, [locked.url, k] as [string, string | undefined]);
          assert.equal(r.ok, false);
          assert.equal(r.name, "KagziError");
          assert.equal(r.code, "UNAUTHORIZED", JSON.stringify(r));
        }
      });

      await t.step("with keys on and the key: connect, start, get, list, cancel", async () => {
        const r = await page.evaluate(inPage, [locked.url, key] as [string, string | undefined]);
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.deepEqual(r.listed, [r.id]);
        assert.equal(r.cancelled, "CANCELLED");
      });
      // Refused calls log failed fetches (401) on the console; nothing else may fail.
      assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
