/**
 * The stream lines of `../shared/API.md` "Streams, tokens and hooks", run as written against a
 * real server process with a worker in this process: `ctx.stream` write and close, following
 * with `client.handle(runId).stream("progress", { from: 0 })`, `latest`, and the plain HTTP
 * `GET /v1/runs/{runId}/streams/progress` (text/event-stream).
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { TestEnv } from "@kagzi/sdk/testing";
import { startTestServer } from "./_server.ts";
import { runExample } from "./_examples.ts";

async function exportReport(ctx: Context) {
  // inside a workflow: durable, ordered, replay-safe output (a write is stored once per occurrence)
  const progress = ctx.stream<{ pct: number }>("progress");
  await ctx.step("load").run(() => "loaded");
  await progress.write({ pct: 40 });
  await ctx.step("render").run(() => "rendered");
  await progress.write({ pct: 100 });
  await progress.close(); // also closed when the run ends
  return "exported";
}

Deno.test("API.md's stream example runs as written (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const client = await Kagzi.connect(server.url);
  const worker = await Worker.builder(server.url).workflow("export-report", exportReport).build();
  const running = worker.run();
  try {
    const runId = (await client.start("export-report").input({})).id;

    // anywhere: follow it live (Connect server-streaming; resumable from an offset)
    const seen: { offset: number; value: unknown }[] = [];
    for await (const { offset, value } of client.handle(runId).stream("progress", { from: 0 })) {
      seen.push({ offset, value });
    }
    assert.deepEqual(seen, [{ offset: 0, value: { pct: 40 } }, { offset: 1, value: { pct: 100 } }]);
    const last = await client.handle(runId).latest("progress"); // the last value written
    assert.deepEqual(last, { pct: 100 });

    // plain HTTP for any tool: GET /v1/runs/{runId}/streams/progress  (text/event-stream)
    const res = await fetch(`${server.url}/v1/runs/${runId}/streams/progress`);
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(
      await res.text(),
      'id: 0\ndata: {"pct":40}\n\nid: 1\ndata: {"pct":100}\n\nevent: end\ndata: {}\n\n',
    );
    assert.equal(await client.handle(runId).result(), "exported");
  } finally {
    await worker.shutdown();
    await running;
  }
});

Deno.test("examples/streams follows a run's tokens live and reads its progress as SSE (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const stdout = await runExample("streams", server.url);
  const said = "You asked: what is six times seven? The answer is forty-two.";
  assert.match(stdout, new RegExp(`streamed: ${said.replace("?", "\\?")}\n`));
  assert.match(stdout, /progress events: 11 last: {"pct":100}/);
  assert.match(stdout, /latest progress: {"pct":100}/);
  assert.match(stdout, new RegExp(`result: ${said.replace("?", "\\?")}`));
});

Deno.test("streams work in the testing kit: written across a virtual day, followed in process", async () => {
  await using env = await TestEnv.create({
    workflows: {
      daily: async (ctx: Context) => {
        const s = ctx.stream<number>("p");
        await s.write(1);
        await ctx.sleep("day", "1 day"); // virtual: the replay after it writes nothing twice
        await s.write(2);
        return "ok";
      },
    },
  });
  const run = await env.client.start("daily");
  const got: number[] = [];
  for await (const e of env.client.handle(run.id).stream<number>("p")) got.push(e.value);
  assert.equal(await run.result(), "ok");
  assert.deepEqual(got, [1, 2]);
});
