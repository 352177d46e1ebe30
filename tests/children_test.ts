/**
 * Child workflows on both backends with real server and worker processes: results, fan-out,
 * failures caught by the parent, cancellation down the tree, abandoned children, typed
 * definitions, and a parent worker kill -9 while its children run.
 */
import assert from "node:assert/strict";
import {
  type Context,
  defineWorkflow,
  Kagzi,
  NonRetryableError,
  Worker,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

const fast = ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200"];

const double = defineWorkflow("double", async (ctx, input: { n: number }) => {
  return await ctx.step("x2").run(() => input.n * 2);
});
const parent = defineWorkflow("parent", async (ctx, input: { n: number }) => {
  const viaDef = await ctx.child("d").run(double, { n: input.n });
  const viaName = await ctx.child("e").run<number>("double", { n: viaDef });
  return { viaDef, viaName, self: ctx.runId };
});
const fanOut = defineWorkflow("fan-out-20", async (ctx: Context) => {
  const handles = await Promise.all(
    Array.from({ length: 20 }, (_, i) => ctx.child(`c${i}`).start(double, { n: i })),
  );
  const results = await Promise.all(handles.map((h) => h.result()));
  return { sum: results.reduce((a, b) => a + b, 0), ids: handles.map((h) => h.runId) };
});
const failing = defineWorkflow("failing", async (ctx: Context) => {
  await ctx.step("boom").run(() => {
    throw new NonRetryableError("card declined");
  });
});
const catcher = defineWorkflow("catcher", async (ctx: Context) => {
  try {
    await ctx.child("f").run(failing, undefined);
    return "no error";
  } catch (err) {
    const e = err as WorkflowFailedError;
    return `${e.name}|${e.subjectId !== ""}|${/card declined/.test(e.message)}`;
  }
});
// A tree that waits forever: parent → child → grandchild, each waiting for a signal.
const waiter = defineWorkflow("waiter", (ctx: Context) => ctx.waitForSignal("never"));
const middle = defineWorkflow("middle", async (ctx: Context) => {
  await ctx.child("g").start(waiter, undefined);
  return await ctx.waitForSignal("never");
});
const top = defineWorkflow("top", async (ctx: Context, input: { abandon: boolean }) => {
  await ctx.child("m").start(middle, undefined);
  const h = await ctx.child("a").onParentClose(input.abandon ? "abandon" : "cancel")
    .start(waiter, undefined);
  if (input.abandon) return h.runId;
  return await ctx.waitForSignal("never");
});
// A child cancelled while its parent waits on it rejects with WorkflowCancelledError.
const awaitCancelled = defineWorkflow("await-cancelled", async (ctx: Context) => {
  try {
    await ctx.child("w").run(waiter, undefined);
    return "no error";
  } catch (err) {
    const e = err as WorkflowCancelledError;
    return { name: e.name, message: e.message, reason: e.reason };
  }
});

const all = [double, parent, fanOut, failing, catcher, waiter, middle, top, awaitCancelled];

for (const backend of await backends()) {
  Deno.test(`child workflows on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, { args: fast });
    const worker = await Worker.builder(server.url).workflows(all).maxConcurrent(40).build();
    const running = worker.run();
    const client = await Kagzi.connect(server.url);
    try {
      await t.step("a parent gets its children's results; runs show their parent", async () => {
        const run = await client.start(parent).input({ n: 3 });
        const out = await run.result({ timeout: "90s" });
        assert.deepEqual({ viaDef: out.viaDef, viaName: out.viaName }, { viaDef: 6, viaName: 12 });
        const children = await client.list().parent(run.id);
        assert.equal(children.workflows.length, 2);
        for (const c of children.workflows) {
          assert.equal(c.parentRunId, run.id);
          assert.equal(c.status, "COMPLETED");
        }
      });

      await t.step("20 children fan out with Promise.all", async () => {
        const run = await client.start(fanOut);
        const out = await run.result({ timeout: "60s" });
        assert.equal(out.sum, 2 * (19 * 20) / 2);
        assert.equal(new Set(out.ids).size, 20);
        assert.equal((await client.list().parent(run.id)).workflows.length, 20);
      });

      await t.step("a failing child's error is caught by the parent", async () => {
        const run = await client.start(catcher);
        assert.equal(await run.result({ timeout: "90s" }), "WorkflowFailedError|true|true");
      });

      await t.step("cancelling the parent cancels children and grandchildren", async () => {
        const run = await client.start(top).input({ abandon: false });
        let tree: string[] = [];
        await waitFor("the tree to start", async () => {
          const kids = (await client.list().parent(run.id)).workflows;
          const m = kids.find((k) => k.type === "middle");
          const grand = m ? (await client.list().parent(m.id)).workflows : [];
          tree = [...kids, ...grand].map((w) => w.id);
          return kids.length === 2 && grand.length === 1;
        });
        await client.cancel(run.id);
        for (const id of tree) {
          const w = await client.get(id);
          assert.equal(w.status, "CANCELLED", `${w.type} ${id} is ${w.status}`);
        }
        // A child cancelled with its parent says why, once.
        const m = (await client.list().parent(run.id)).workflows.find((k) => k.type === "middle")!;
        await assert.rejects(client.handle(m.id).result(), (e: Error) => {
          assert.equal(
            e.message,
            `Workflow run ${m.id} was cancelled: Parent run ${run.id} ended (cancelled)`,
          );
          return true;
        });
      });

      await t.step('"abandon" children keep running after the parent ends', async () => {
        const run = await client.start(top).input({ abandon: true });
        const abandoned = await run.result({ timeout: "90s" }) as string;
        const kids = (await client.list().parent(run.id)).workflows;
        const m = kids.find((k) => k.type === "middle")!;
        // The parent completed: its "cancel" child (and grandchild) ended, the abandoned one not.
        assert.equal((await client.get(m.id)).status, "CANCELLED");
        const a = await client.get(abandoned);
        assert.ok(["PENDING", "RUNNING", "SLEEPING"].includes(a.status), a.status);
        await client.signal(abandoned, "never", "finally");
        await waitFor(
          "the abandoned child to complete",
          async () => (await client.get(abandoned)).status === "COMPLETED",
        );
      });

      await t.step(
        "a cancelled child rejects the waiting parent with WorkflowCancelledError",
        async () => {
          const run = await client.start(awaitCancelled);
          let child = "";
          await waitFor("the child to start", async () => {
            child = (await client.list().parent(run.id)).workflows[0]?.id ?? "";
            return child !== "";
          });
          await client.cancel(child).reason("test cancel child");
          // One sentence naming the child and the reason, as the child's own result() says it
          // (was 'Workflow run <id> was cancelled: Child run <id> was cancelled: Cancelled: …').
          const message = `Workflow run ${child} was cancelled: test cancel child`;
          assert.deepEqual(await run.result({ timeout: "90s" }), {
            name: WorkflowCancelledError.name,
            message,
            reason: "test cancel child",
          });
          await assert.rejects(client.handle(child).result(), (e: WorkflowCancelledError) => {
            assert.ok(e instanceof WorkflowCancelledError);
            assert.equal(e.message, message);
            return true;
          });
          // The parent's history says it once too.
          const [w] = (await client.listSteps(run.id)).filter((s) => s.name === "w");
          assert.equal(w.error?.message, `Child run ${child} was cancelled: test cancel child`);
        },
      );
    } finally {
      await worker.shutdown();
      await running;
    }
  });

  Deno.test(`a parent worker killed while children run on ${backend}`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    const first = await startWorker(server.url, {
      types: ["fan-out", "slow-child"],
      journal: journal.path,
    });
    const run = await client.start("fan-out").input({ n: 3, ms: 1_500 });
    await waitFor(
      "children to start",
      () => readJournal(journal.path).filter((e) => e.step.startsWith("child-")).length >= 1,
    );
    first.kill("SIGKILL");
    await first.status;
    await using second = await startWorker(server.url, {
      types: ["fan-out", "slow-child"],
      journal: journal.path,
    });
    assert.equal(await run.result({ timeout: "60s" }), 0 + 10 + 20);
    // Each child run was started once (one per child step), whatever re-ran after the kill.
    const children = (await client.list().parent(run.id)).workflows;
    assert.equal(children.length, 3);
    assert.equal(new Set(children.map((c) => c.workflowId)).size, 3);
    const sums = readJournal(journal.path).filter((e) => e.run === run.id && e.step === "sum");
    assert.equal(sums.length, 1);
    // The parent finished on the second worker: "sum" ran there, after the first was killed.
    assert.equal(sums[0].pid, second.pid);
    assert.notEqual(sums[0].pid, first.pid);
  });
}
