import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { startWorker } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test(`v1 and v2 workers side by side: runs stay on the version they started with (${backend})`, async () => {
  await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "200"] });
  const ran: string[] = [];
  const make = (v: string) => async (ctx: Context, input: { nap: string }) => {
    const first = await ctx.step("first").run(() => (ran.push(`${v}:${ctx.runId}`), v));
    await ctx.sleep("nap", input.nap);
    const second = await ctx.step("second").run(() => (ran.push(`${v}:${ctx.runId}`), v));
    return `${first}-${second}`;
  };
  const v1 = await Worker.builder(server.url).workflow("order", make("v1"), { version: "1" })
    .build();
  const v2 = await Worker.builder(server.url).workflow("order", make("v2"), { version: "2" })
    .build();
  const running = [v1.run(), v2.run()];
  try {
    const client = await Kagzi.connect(server.url);
    await client.setDefaultVersion("order", "1");
    // Long-running v1 runs, started before the default moves to v2.
    const old = await Promise.all(
      Array.from({ length: 5 }, () => client.start("order").input({ nap: "1500ms" })),
    );
    await sleep(300);
    await client.setDefaultVersion("order", "2");
    assert.equal((await client.serverInfo()).defaultVersions.order, "2");
    const fresh = await Promise.all(
      Array.from({ length: 5 }, () => client.start("order").input({ nap: "10ms" })),
    );
    const pinned = await client.start("order").version("1").input({ nap: "10ms" });
    for (const r of old) assert.equal(await r.result({ timeout: "20s" }), "v1-v1");
    for (const r of fresh) assert.equal(await r.result({ timeout: "20s" }), "v2-v2");
    assert.equal(await pinned.result({ timeout: "20s" }), "v1-v1");
    for (const r of old) {
      assert.equal((await client.get(r.id)).version, "1");
      // Both steps ran, each on the v1 worker (the result alone could be replayed output).
      assert.deepEqual(ran.filter((x) => x.endsWith(r.id)), [`v1:${r.id}`, `v1:${r.id}`]);
    }

    // A version no worker serves is accepted and waits, visible in the listing.
    const waiting = await client.start("order").version("3").input({ nap: "10ms" });
    await sleep(500);
    assert.equal((await client.get(waiting.id)).status, "PENDING");
    const listed = await client.list().type("order").version("3");
    assert.deepEqual(listed.workflows.map((w) => w.id), [waiting.id]);
    const { workers } = await client.listWorkers({ type: "order" });
    assert.deepEqual(workers.map((w) => w.workflowTypes[0].versions[0]).sort(), ["1", "2"]);
  } finally {
    await Promise.all([v1.shutdown(), v2.shutdown()]);
    await Promise.all(running);
  }
});

Deno.test(`worker health moves HEALTHY → DEGRADED → UNHEALTHY → OFFLINE under SIGSTOP and back after SIGCONT (${backend})`, async () => {
  await using server = await startTestServer(backend, {
    args: ["--heartbeat-interval-ms", "500", "--tick-interval-ms", "100"],
  });
  await using worker = await startWorker(server.url, { types: ["three-steps"] });
  const client = await Kagzi.connect(server.url);
  const id = worker.output().match(/worker ready (\S+)/)![1];
  const healthOf = async () => (await client.getWorker(id)).health;
  const seen: string[] = [];
  const watch = async (until: string, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const h = await healthOf();
      if (seen.at(-1) !== h) seen.push(h);
      if (h === until) return;
      await sleep(50);
    }
    throw new Error(`health never became ${until}: ${seen.join(" → ")}`);
  };
  await watch("HEALTHY", 5_000);
  Deno.kill(worker.pid, "SIGSTOP");
  try {
    await watch("OFFLINE", 10_000);
    assert.deepEqual(seen, ["HEALTHY", "DEGRADED", "UNHEALTHY", "OFFLINE"]);
    assert.equal((await client.getWorker(id)).status, "OFFLINE");
  } finally {
    Deno.kill(worker.pid, "SIGCONT");
  }
  await watch("HEALTHY", 5_000);
  assert.equal((await client.getWorker(id)).status, "ONLINE");
});
