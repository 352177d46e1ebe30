/**
 * A client whose server has no StartWorkflows (an older server) sends single StartWorkflow calls:
 * a real server behind a real HTTP proxy that answers StartWorkflows as a server without the
 * procedure does (404, which Connect reads as UNIMPLEMENTED) and passes every other call on. The
 * first batch is sent again as single starts (no start lost, none stored twice), and the client
 * asks no more.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { metricSum } from "./_metrics.ts";
import { startTestServer } from "./_server.ts";
import { olderServer } from "./_older_server.ts";

async function echo(ctx: Context, input: { i: number }) {
  return await ctx.step("a").run(() => ({ i: input.i }));
}

const calls = (url: string, method: string) =>
  metricSum(url, "kagzi_rpc_duration_seconds_count", { method });

const [backend] = await backends();
Deno.test(`a server without StartWorkflows gets single starts (${backend})`, async (t) => {
  await using server = await startTestServer(backend);
  const proxy = olderServer(server.url, "kagzi.v1.WorkflowService/StartWorkflows");
  try {
    const client = await Kagzi.connect(proxy.url);
    const worker = await Worker.builder(server.url).maxConcurrent(50).workflow("echo", echo)
      .build();
    const running = worker.run();
    try {
      const singles = await calls(server.url, "StartWorkflow");
      await t.step("the first starts made together are sent again one by one", async () => {
        const runs = await Promise.all(
          Array.from({ length: 40 }, (_, i) => client.start("echo").input({ i })),
        );
        assert.equal(proxy.refused(), 1, "one StartWorkflows call, refused");
        assert.equal(await calls(server.url, "StartWorkflows"), 0);
        assert.equal(await calls(server.url, "StartWorkflow") - singles, 40);
        assert.equal(new Set(runs.map((r) => r.id)).size, 40);
        const outs = await Promise.all(runs.map((r) => r.result()));
        outs.forEach((o, i) => assert.deepEqual(o, { i }));
      });
      await t.step("later starts made together are single calls from the start", async () => {
        const runs = await Promise.all(
          Array.from({ length: 40 }, (_, i) => client.start("echo").input({ i: 40 + i })),
        );
        assert.equal(proxy.refused(), 1, "StartWorkflows is not asked again");
        assert.equal(await calls(server.url, "StartWorkflow") - singles, 80);
        const outs = await Promise.all(runs.map((r) => r.result()));
        outs.forEach((o, i) => assert.deepEqual(o, { i: 40 + i }));
        const stored = await client.list().type("echo").pageSize(200);
        assert.equal(stored.workflows.length, 80, "each start stored once");
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  } finally {
    await proxy.shutdown();
  }
});
