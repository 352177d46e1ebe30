/**
 * Workflow ids stay idempotency keys while their runs are retained, on both backends with real
 * server processes: a duplicate start after completion returns the finished run (also when two
 * starts race a few ms apart), each `onDuplicate` mode does what it says, retry and retention
 * interplay, and bad modes are refused naming the field.
 */
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { type OnDuplicate, WorkflowService } from "@kagzi/proto";
import { type Context, Kagzi, type KagziError, NonRetryableError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { json } from "./_raw.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

/** Every execution of "echo" by workflow id, seen from inside the step. */
const executions: string[] = [];

async function echo(ctx: Context, input: { fail?: boolean; n: number }) {
  return await ctx.step("echo").run(() => {
    executions.push(`${ctx.workflowId}:${input.n}`);
    if (input.fail) throw new NonRetryableError(`failed ${input.n}`);
    return input.n;
  });
}

const conflict = (runId: string) => (e: KagziError) => {
  assert.equal(e.code, "CONFLICT");
  assert.equal(e.subject, "workflow_id");
  assert.match(e.message, new RegExp(`run "${runId}"`));
  return true;
};

for (const backend of await backends()) {
  Deno.test(`workflow ids stay idempotency keys while retained on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: ["--retention-namespaces", "brief=1s", "--tick-interval-ms", "200"],
    });
    const client = await Kagzi.connect(server.url);
    executions.length = 0;
    const worker = await Worker.builder(server.url).workflow("echo", echo).build();
    const brief = await Worker.builder(server.url).namespace("brief").workflow("echo", echo)
      .build();
    const running = [worker.run(), brief.run()];
    const runsOf = async (id: string, namespace = "default") =>
      (await client.list().workflowId(id).namespace(namespace)).workflows;
    try {
      await t.step("a duplicate start after completion returns the finished run", async () => {
        const first = await client.start("echo").input({ n: 1 }).id("order-1");
        assert.equal(await first.result(), 1);
        const again = await client.start("echo").input({ n: 2 }).id("order-1");
        assert.equal(again.id, first.id);
        assert.equal(again.alreadyExists, true);
        assert.equal(await again.result(), 1);
        assert.equal((await runsOf("order-1")).length, 1);
        assert.deepEqual(executions.filter((e) => e.startsWith("order-1:")), ["order-1:1"]);
      });

      await t.step("two starts a few ms apart after completion both get the one run", async () => {
        const first = await client.start("echo").input({ n: 1 }).id("order-2");
        await first.result();
        const [a, b] = await Promise.all([
          client.start("echo").input({ n: 2 }).id("order-2"),
          new Promise((r) => setTimeout(r, 3)).then(() =>
            client.start("echo").input({ n: 3 }).id("order-2")
          ),
        ]);
        assert.deepEqual([a.id, b.id], [first.id, first.id]);
        assert.deepEqual([a.alreadyExists, b.alreadyExists], [true, true]);
        assert.equal((await runsOf("order-2")).length, 1);
      });

      await t.step("twenty concurrent first starts make one run", async () => {
        const all = await Promise.all(
          Array.from({ length: 20 }, (_, n) => client.start("echo").input({ n }).id("order-3")),
        );
        assert.equal(new Set(all.map((r) => r.id)).size, 1);
        assert.equal(all.filter((r) => !r.alreadyExists).length, 1);
        await all[0].result();
        assert.equal((await runsOf("order-3")).length, 1);
        assert.equal(executions.filter((e) => e.startsWith("order-3:")).length, 1);
      });

      await t.step('"allow-after-failure" starts anew after a failure only', async () => {
        const failed = await client.start("echo").input({ n: 1, fail: true }).id("order-4");
        await assert.rejects(failed.result(), /failed 1/);
        const plain = await client.start("echo").input({ n: 2 }).id("order-4");
        assert.equal(plain.id, failed.id, "the default returns the failed run");
        const fresh = await client.start("echo").input({ n: 3 }).id("order-4")
          .onDuplicate("allow-after-failure");
        assert.notEqual(fresh.id, failed.id);
        assert.equal(fresh.alreadyExists, false);
        assert.equal(await fresh.result(), 3);
        const after = await client.start("echo").input({ n: 4 }).id("order-4")
          .onDuplicate("allow-after-failure");
        assert.equal(after.id, fresh.id, "a completed run is returned");
        assert.equal(after.alreadyExists, true);
        assert.deepEqual((await runsOf("order-4")).map((w) => w.id), [fresh.id, failed.id]);
        assert.equal(await client.handle({ workflowId: "order-4" }).result(), 3);
      });

      await t.step(
        '"allow-after-end" starts anew after completion, not past an open run',
        async () => {
          const open = await client.start("unserved").input({}).id("order-5")
            .onDuplicate("allow-after-end");
          const same = await client.start("unserved").input({}).id("order-5")
            .onDuplicate("allow-after-end");
          assert.equal(same.id, open.id);
          assert.equal(same.alreadyExists, true);
          await client.cancel(open.id);
          const done = await client.start("echo").input({ n: 1 }).id("order-6");
          await done.result();
          const fresh = await client.start("echo").input({ n: 2 }).id("order-6")
            .onDuplicate("allow-after-end");
          assert.notEqual(fresh.id, done.id);
          assert.equal(await fresh.result(), 2);
          assert.equal((await runsOf("order-6")).length, 2);
        },
      );

      await t.step('"fail" is a CONFLICT naming the retained run, open or ended', async () => {
        const first = await client.start("echo").input({ n: 1 }).id("order-7")
          .onDuplicate("fail");
        assert.equal(first.alreadyExists, false);
        await first.result();
        await assert.rejects(
          client.start("echo").input({ n: 2 }).id("order-7").onDuplicate("fail"),
          conflict(first.id),
        );
        const open = await client.start("unserved").input({}).id("order-8");
        await assert.rejects(
          client.start("unserved").input({}).id("order-8").onDuplicate("fail"),
          conflict(open.id),
        );
        await client.cancel(open.id);
      });

      await t.step("a retained run of another type is a CONFLICT naming it", async () => {
        const [run] = await runsOf("order-1");
        await assert.rejects(client.start("other").input({}).id("order-1"), conflict(run.id));
      });

      await t.step("retry still starts a new run under the id", async () => {
        const [done] = await runsOf("order-1");
        const again = await client.retry(done.id);
        assert.equal(await again.result(), 1);
        const dup = await client.start("echo").input({ n: 9 }).id("order-1");
        assert.equal(dup.id, again.id, "the newest run answers");
      });

      await t.step("once retention deletes the run, the id starts anew", async () => {
        const first = await client.start("echo").input({ n: 1 }).id("order-9")
          .namespace("brief");
        await first.result();
        await waitFor("retention to delete the run", async () => {
          return (await runsOf("order-9", "brief")).length === 0;
        });
        const fresh = await client.start("echo").input({ n: 2 }).id("order-9").namespace("brief");
        assert.notEqual(fresh.id, first.id);
        assert.equal(fresh.alreadyExists, false);
        assert.equal(await fresh.result(), 2);
      });

      await t.step("a bad mode is refused naming the field", async () => {
        assert.throws(
          () => client.start("echo").onDuplicate("sometimes" as "fail"),
          /onDuplicate must be/,
        );
        const raw = createClient(
          WorkflowService,
          createConnectTransport({ baseUrl: server.url, useBinaryFormat: true }),
        );
        await assert.rejects(
          raw.startWorkflow({
            namespace: "default",
            workflowType: "echo",
            workflowId: "order-10",
            input: json({ n: 1 }),
            onDuplicate: 9 as OnDuplicate,
          }),
          (e: Error) => {
            assert.match(e.message, /"on_duplicate" 9 is not/);
            return true;
          },
        );
      });
    } finally {
      await Promise.all([worker.shutdown(), brief.shutdown()]);
      await Promise.all(running);
    }
  });
}
