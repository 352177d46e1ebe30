/**
 * `@kagzi/sdk/client` inside Cloudflare's workerd: `tests/runtimes/workerd_worker.ts`, bundled
 * the way a Workers build does (one browser-platform ES module), served by a real `workerd`
 * process, starts a run on a real server, reads it and awaits its result (a Deno worker runs it).
 */
import assert from "node:assert/strict";
import { bundleForBrowser, nodeImports } from "./_bundle.ts";
import { backends } from "./_db.ts";
import { spawnProcess } from "./_process.ts";
import { runtimeOrSkip, WORKERD_VERSION, workerdPath } from "./_runtimes.ts";
import { startTestServer } from "./_server.ts";
import { startWorker } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

/** workerd's configuration: the worker on 127.0.0.1 (a free port), allowed to reach 127.0.0.1. */
function config(): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .kagziClient),
    # The default outbound network is public addresses only; the test server is on 127.0.0.1.
    (name = "net", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);

const kagziClient :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2025-01-01",
  globalOutbound = "net",
);
`;
}

Deno.test(`the client entry runs inside Cloudflare workerd: start, get, result (${backend})`, async () => {
  const bin = await runtimeOrSkip("workerd", workerdPath);
  if (!bin) return;
  const dir = await Deno.makeTempDir({ prefix: "kagzi_workerd_" });
  try {
    const code = await bundleForBrowser("tests/runtimes/workerd_worker.ts", `${dir}/worker.js`);
    assert.deepEqual(nodeImports(code), [], "no nodejs_compat needed");
    await Deno.writeTextFile(`${dir}/config.capnp`, config());
    await using server = await startTestServer(backend);
    await using _worker = await startWorker(server.url, { types: ["three-steps"] });
    // `--control-fd 1`: workerd reports the port it listens on as a JSON line on stdout.
    await using workerd = await spawnProcess(
      bin,
      ["serve", "--control-fd", "1", `${dir}/config.capnp`],
      { cwd: dir },
      '"event":"listen"',
      `workerd ${WORKERD_VERSION}`,
    );
    const port = JSON.parse(workerd.output().split("\n").find((l) => l.includes("listen"))!).port;
    const res = await fetch(`http://127.0.0.1:${port}/?server=${server.url}&type=three-steps`);
    const got = await res.json();
    assert.ok(got.ok, `the client failed in workerd: ${JSON.stringify(got)}`);
    assert.equal(got.userAgent, "Cloudflare-Workers");
    assert.ok(["PENDING", "RUNNING"].includes(got.startedStatus), got.startedStatus);
    assert.equal(got.status, "COMPLETED");
    assert.deepEqual(got.output, { out: [1, 2, 3], runId: got.id });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
