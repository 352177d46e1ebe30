/**
 * `client.handle()` on both backends: a second process that knows only a run id or a workflow
 * id attaches to a run, signals it, waits for its result and lists its steps; `start()` gives
 * the same handle; unknown ids and other namespaces are refused with the field named.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { spawnDeno } from "./_process.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const attachMain = new URL("./_attach_main.ts", import.meta.url).pathname;

async function approval(ctx: Context) {
  await ctx.step("before").run(() => "b");
  const got = await ctx.waitForSignal<{ by: string }>("go");
  await ctx.step("after").run(() => "a");
  return got;
}

/** Runs the attach script to its end; its parsed "done" line. */
async function attach(addr: string, kind: "run" | "workflow", value: string, signal: boolean) {
  const env: Record<string, string> = signal ? { KAGZI_TEST_SIGNAL: "1" } : {};
  const proc = await spawnDeno(["run", "-A", attachMain, addr, kind, value], env, "attached", kind);
  const status = await proc.status;
  assert.equal(status.code, 0, proc.output());
  const attached = JSON.parse(proc.output().match(/attached (.*)/)![1]);
  const done = JSON.parse(proc.output().match(/done (.*)/)![1]);
  return { attached, ...done };
}

for (const backend of await backends()) {
  Deno.test(`client.handle() on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url).workflow("approval", approval).build();
    const running = worker.run();
    try {
      await t.step("a second process attaches by workflow id, signals and awaits", async () => {
        const run = await client.start("approval").input({}).id("order-123");
        await waitFor("the run to wait for its signal", async () => {
          const w = await run.get();
          return w.status === "SLEEPING" && w.waits.some((x) => x.name === "go");
        });
        const out = await attach(server.url, "workflow", "order-123", true);
        assert.equal(out.attached.status, "SLEEPING");
        assert.deepEqual(out.result, { by: "second process" });
        assert.deepEqual(out.steps, ["before", "go", "after"]);
        assert.equal(out.runId, run.id);
        assert.deepEqual(await run.result(), { by: "second process" });
      });

      await t.step("a second process attaches by run id and reads the ended run", async () => {
        const run = await client.start("approval").input({});
        await run.signal("go", { by: "first process" });
        const out = await attach(server.url, "run", run.id, false);
        assert.deepEqual(out.result, { by: "first process" });
        assert.deepEqual(out.steps, ["before", "go", "after"]);
        const h = client.handle(run.id);
        assert.equal(h.id, run.id);
        assert.equal((await h.get()).status, "COMPLETED");
      });

      await t.step("a handle cancels with a reason; result() rejects as cancelled", async () => {
        const run = await client.start("approval").input({}).id("to-cancel");
        const h = client.handle({ workflowId: "to-cancel" });
        const w = await h.cancel({ reason: "customer asked" });
        assert.equal(w.id, run.id);
        assert.equal(w.status, "CANCELLED");
        await assert.rejects(h.result(), /customer asked/);
      });

      await t.step("unknown ids and other namespaces are NOT_FOUND naming the field", async () => {
        const notFound = (subject: string) => (e: KagziError) => {
          assert.equal(e.code, "NOT_FOUND");
          assert.equal(e.subject, subject);
          return true;
        };
        await assert.rejects(client.handle({ workflowId: "nobody" }).get(), notFound("workflowId"));
        await assert.rejects(
          client.handle({ workflowId: "order-123" }, { namespace: "other" }).result(),
          notFound("workflowId"),
        );
        await assert.rejects(client.handle(crypto.randomUUID()).result(), (e: KagziError) => {
          assert.equal(e.code, "NOT_FOUND");
          return true;
        });
        await assert.rejects(client.handle("not-a-uuid").steps(), (e: KagziError) => {
          assert.equal(e.code, "INVALID_ARGUMENT");
          assert.equal(e.subject, "run_id");
          return true;
        });
        await assert.rejects(client.handle({ workflowId: "" }).get(), (e: KagziError) => {
          assert.equal(e.code, "INVALID_ARGUMENT");
          assert.equal(e.subject, "workflowId");
          return true;
        });
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
