/**
 * `@kagzi/sdk/client` bundles for browsers as one file that imports no `node:*` module and uses
 * no `Deno` API, and the bundle drives a real server. (In a real browser: `browser_test.ts`.)
 */
import assert from "node:assert/strict";
import { bundleForBrowser, denoUses, gzipSize, nodeImports } from "./_bundle.ts";
import { startTestServer } from "./_server.ts";

Deno.test("the client entry bundles for browsers without node: imports or Deno APIs, and works", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "kagzi_bundle_" });
  try {
    await t.step("the scan finds node: imports where they are (the gRPC entry)", async () => {
      const grpc = await bundleForBrowser("sdk/grpc.ts", `${dir}/grpc.js`, false);
      assert.ok(nodeImports(grpc).includes("node:http2"), "the gRPC entry should need node:http2");
    });

    const file = `${dir}/client.js`;
    const code = await bundleForBrowser("sdk/client.ts", file);
    await t.step("no node: imports, no Deno API", () => {
      assert.deepEqual(nodeImports(code), []);
      assert.deepEqual(denoUses(code), []);
      assert.doesNotMatch(code, /\bimport\s*\(/, "one file: no dynamic import left");
    });
    console.log(
      `client bundle: ${(code.length / 1024).toFixed(1)} KiB minified, ` +
        `${((await gzipSize(code)) / 1024).toFixed(1)} KiB gzipped`,
    );

    await t.step("the bundle starts, reads, lists and cancels runs on a real server", async () => {
      await using server = await startTestServer("embedded");
      const sdk = await import(`file://${file}`) as typeof import("@kagzi/sdk/client");
      const client = await sdk.Kagzi.connect(server.url);
      const run = await client.start("bundled").input({ n: 1 }).id("bundle-1");
      assert.equal((await client.get(run.id)).status, "PENDING");
      const page = await client.list().type("bundled");
      assert.deepEqual(page.workflows.map((w) => w.id), [run.id]);
      assert.equal((await client.cancel(run.id)).status, "CANCELLED");
      await assert.rejects(run.result(), sdk.WorkflowCancelledError);
      const err = await sdk.Kagzi.connect(server.url, { protocol: "grpc" }).catch((e) => e);
      assert.ok(err instanceof sdk.KagziError);
      assert.equal(err.code, "INVALID_ARGUMENT");
      assert.match(err.message, /@kagzi\/sdk\/grpc/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
