/** The server serves the dashboard at /ui on its Connect port: the page, its assets, redirects. */
import assert from "node:assert/strict";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

/** Postgres when there is one (quicker to start), else embedded. */
const backend = (await backends()).at(-1)!;

Deno.test(`the dashboard is served at /ui with cacheable assets and clear refusals (${backend})`, async (t) => {
  await using server = await startTestServer(backend, {
    args: ["--api-keys", "ui-serve-test-key-000000"],
  });
  const get = (path: string, init?: RequestInit) =>
    fetch(`${server.url}${path}`, { redirect: "manual", ...init });

  let scriptPath = "";
  await t.step(
    "any path under /ui/ is the page (the app routes in the browser), keys or not",
    async () => {
      for (
        const path of ["/ui/", "/ui/runs/0e9ab1d6-0000-4000-8000-000000000000?ns=x", "/ui/workers"]
      ) {
        const res = await get(path);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
        assert.equal(res.headers.get("cache-control"), "no-cache");
        assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/);
        const html = await res.text();
        scriptPath = /src="(\/ui\/assets\/app\.\w+\.js)"/.exec(html)![1];
      }
    },
  );

  await t.step("assets are versioned, immutable, and of the right type", async () => {
    const js = await get(scriptPath);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    assert.ok((await js.text()).length > 10_000);
    const css = await get(scriptPath.replace(/\.js$/, ".css"));
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    await css.body?.cancel();
    const old = await get("/ui/assets/app.000000000000.js");
    assert.equal(old.status, 404);
    await old.body?.cancel();
  });

  await t.step(
    "/ and /ui lead to /ui/; other methods are refused; the API is untouched",
    async () => {
      for (const path of ["/", "/ui"]) {
        const res = await get(path);
        assert.equal(res.status, 302);
        assert.equal(res.headers.get("location"), "/ui/");
      }
      const post = await get("/ui/", { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      await post.body?.cancel();
      const unknown = await get("/kagzi.v1.Nope/Call", { method: "POST" });
      assert.equal(unknown.status, 404);
      assert.match(await unknown.text(), /No such procedure/);
    },
  );
});
