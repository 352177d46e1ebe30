/**
 * Stream writes on the wire and in a replay: AppendStream stores each offset once (a replayed
 * write changes nothing), refuses gaps, lost leases and bad input by name, stores nothing past
 * a close; a resumed run's replay sends no stored write again (its task carries the cursors).
 */
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { StreamService } from "@kagzi/proto";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { json, workerRpc } from "./_raw.ts";

const decode = (v: { data: Uint8Array } | undefined) =>
  JSON.parse(new TextDecoder().decode(v!.data));

for (const backend of await backends()) {
  Deno.test(`AppendStream stores each offset once and refuses gaps, lost leases and bad input (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const rpc = workerRpc(server.url);
    const streams = createClient(
      StreamService,
      createConnectTransport({ baseUrl: server.url, useBinaryFormat: true }),
    );
    const client = await Kagzi.connect(server.url);
    const { workerId } = await rpc.register({ workflowTypes: [{ workflowType: "raw" }] });
    const run = await client.start("raw").input({});
    const [task] = (await rpc.pollTask({ workerId, maxTasks: 1 })).tasks;
    const lease = { runId: task.runId, fence: task.fence };
    const append = (offset: number, values: unknown[], close = false) =>
      streams.appendStream({
        workerId,
        lease,
        name: "s",
        offset: BigInt(offset),
        values: values.map(json),
        close,
      });
    const stored = async () => {
      const out: unknown[] = [];
      const read = streams.readStream({ runId: run.id, name: "s" });
      for await (const m of read) {
        out.push(...m.entries.map((e) => [Number(e.offset), decode(e.value)]));
        if (out.length >= 3 || m.end) break;
      }
      return out;
    };

    await t.step("a write sent again (a replay) is stored once; new offsets append", async () => {
      assert.equal((await append(0, ["a", "b"])).nextOffset, 2n);
      assert.equal((await append(0, ["A", "B", "c"])).nextOffset, 3n);
      assert.deepEqual(await stored(), [[0, "a"], [1, "b"], [2, "c"]]);
    });

    await t.step(
      "refused by name: a gap, a lost lease, oversize, empty name, no values",
      async () => {
        await assert.rejects(append(7, ["x"]), (e: ConnectError) => {
          assert.equal(e.code, Code.FailedPrecondition);
          assert.match(e.rawMessage, /holds 3 values; offset 7 would leave a gap/);
          return true;
        });
        await assert.rejects(
          streams.appendStream({
            workerId,
            lease: { ...lease, fence: 99n },
            name: "s",
            values: [json(1)],
          }),
          (e: ConnectError) =>
            e.code === Code.FailedPrecondition && /Lease lost/.test(e.rawMessage),
        );
        await append(3, ["x"]);
        const big = { data: new Uint8Array(4 * 1024 * 1024 + 1), metadata: {} };
        const cases: [string, () => Promise<unknown>, string][] = [
          [
            "oversize",
            () => streams.appendStream({ workerId, lease, name: "s", offset: 4n, values: [big] }),
            "values[0].data",
          ],
          [
            "empty name",
            () => streams.appendStream({ workerId, lease, name: "", values: [json(1)] }),
            "name",
          ],
          [
            "nothing",
            () => streams.appendStream({ workerId, lease, name: "s", offset: 4n }),
            "values",
          ],
          ["not JSON", () =>
            streams.appendStream({
              workerId,
              lease,
              name: "s",
              offset: 4n,
              values: [{ data: new TextEncoder().encode("{"), metadata: { encoding: "json" } }],
            }), "values[0].data"],
        ];
        for (const [what, call, field] of cases) {
          await assert.rejects(call(), (e: ConnectError) => {
            assert.equal(e.code, Code.InvalidArgument, what);
            assert.match(e.rawMessage, new RegExp(`"${field.replace(/[[\]]/g, "\\$&")}"`), what);
            return true;
          });
        }
        assert.deepEqual(await client.handle(run.id).latest("s"), "x");
      },
    );

    await t.step("nothing is stored past a close; readers end there", async () => {
      const closed = await append(4, ["y"], true);
      assert.deepEqual([closed.nextOffset, closed.closed], [5n, true]);
      const after = await append(5, ["z"]);
      assert.equal(after.closed, true);
      const all: number[] = [];
      for await (const e of client.handle(run.id).stream("s")) all.push(e.offset);
      assert.deepEqual(all, [0, 1, 2, 3, 4]);
      assert.deepEqual(await client.handle(run.id).latest("s"), "y");
      const [info] = await client.handle(run.id).streams();
      assert.deepEqual([info.count, info.closed], [5, true]);
    });
  });
}

/** Five writes, a durable sleep (the run suspends, then replays), five more, a close. */
async function twoHalves(ctx: Context) {
  const s = ctx.stream<number>("n");
  for (let i = 0; i < 5; i++) await s.write(i);
  await ctx.sleep("pause", "300ms");
  for (let i = 5; i < 10; i++) await s.write(i);
  await s.close();
  return "done";
}

Deno.test("a replay sends no stored stream write again: the resumed task carries the cursors", async () => {
  const backend = (await backends()).at(-1)!;
  await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "100"] });
  const client = await Kagzi.connect(server.url);
  const worker = await Worker.builder(server.url).holdSleeps(0).workflow("halves", twoHalves)
    .build();
  const running = worker.run();
  try {
    const run = await client.start("halves").input({});
    const got: number[] = [];
    for await (const e of client.handle(run.id).stream<number>("n")) got.push(e.value);
    assert.equal(await run.result(), "done");
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // One call per awaited write and one for the close: the replay's five cost none.
    assert.equal(worker.stats.rpcs.appendStream, 11);
  } finally {
    await worker.shutdown();
    await running;
  }
});

/** Writes `n` values at once (not awaiting each), then closes the stream. */
async function burst(ctx: Context, input: { n: number }) {
  const s = ctx.stream<{ i: number; pad: string }>("s");
  await Promise.all(Array.from({ length: input.n }, (_, i) => s.write({ i, pad: "x".repeat(80) })));
  await s.close();
  return input.n;
}

Deno.test("100 readers of one stream each get a 3,000-value burst once, in order, and the embedded server stays up", async () => {
  await using server = await startTestServer("embedded");
  const client = await Kagzi.connect(server.url);
  const worker = await Worker.builder(server.url).logger(false).workflow("burst", burst).build();
  const running = worker.run();
  try {
    const n = 3_000;
    const run = await client.start("burst").input({ n });
    const readers = await Promise.all(Array.from({ length: 100 }, async () => {
      let next = 0;
      for await (const e of client.handle(run.id).stream<{ i: number }>("s")) {
        if (e.offset !== next || e.value.i !== next) return `offset ${e.offset} after ${next - 1}`;
        next++;
      }
      return next;
    }));
    assert.deepEqual(new Set(readers), new Set([n]));
    assert.equal(await run.result(), n);
  } finally {
    await worker.shutdown();
    await running;
  }
});
