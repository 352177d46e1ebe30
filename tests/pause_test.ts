/**
 * PauseWorkflow / ResumeWorkflow of PAUSED runs on both backends with real server processes:
 * a running run stops at its next step boundary (the step in flight stored) and goes on after the
 * resume; a paused run survives a worker kill -9 and keeps the signals sent meanwhile; cancel
 * ends a paused run; bad input is refused naming the field.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

/** Every real execution of a step of "gated": `<step>`. */
const executions: string[] = [];
let entered!: () => void;
let gate!: Promise<void>;
let open!: () => void;

async function gated(ctx: Context) {
  const a = await ctx.step("a").run(() => {
    executions.push("a");
    return "A";
  });
  const b = await ctx.step("b").run(async () => {
    executions.push("b");
    entered();
    await gate;
    return "B";
  });
  const c = await ctx.step("c").run(() => {
    executions.push("c");
    return "C";
  });
  return a + b + c;
}

for (const backend of await backends()) {
  Deno.test(`pause and resume on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200"],
    });
    const client = await Kagzi.connect(server.url);

    await t.step("a running run pauses at its next step boundary and resumes", async () => {
      executions.length = 0;
      const inB = new Promise<void>((r) => (entered = r));
      gate = new Promise<void>((r) => (open = r));
      const worker = await Worker.builder(server.url).workflow("gated", gated).build();
      const running = worker.run();
      try {
        const run = await client.start("gated").input({});
        await inB;
        const paused = await client.pause(run.id);
        assert.equal(paused.status, "PAUSED");
        assert.equal(paused.workerId, undefined, "the lease is released");
        open(); // step b returns; its output is stored and the execution stops there
        await waitFor("the worker to drop the execution", () => worker.stats.abandoned === 1);
        const w = await client.get(run.id);
        assert.equal(w.status, "PAUSED");
        const steps = await client.listSteps(run.id);
        assert.deepEqual(
          steps.filter((s) => s.status === "COMPLETED").map((s) => s.name),
          ["a", "b"],
          "b's result was stored (the step boundary); c did not start",
        );
        assert.deepEqual(executions, ["a", "b"]);
        const listed = await client.list().status("PAUSED");
        assert.deepEqual(listed.workflows.map((x) => x.id), [run.id]);

        const again = await client.pause(run.id);
        assert.equal(again.status, "PAUSED", "pausing a paused run returns it as it is");

        const resumed = await client.resume(run.id);
        assert.equal(resumed.status, "PENDING");
        assert.equal(await run.result({ timeout: "30s" }), "ABC");
        assert.deepEqual(executions, ["a", "b", "c"], "a and b replayed from storage; then c");
      } finally {
        open();
        await worker.shutdown();
        await running;
      }
    });

    await t.step("a paused run survives a worker kill -9 and keeps its signals", async () => {
      await using journal = await tempJournal();
      const first = await startWorker(server.url, {
        types: ["signal-waiter"],
        journal: journal.path,
      });
      const run = await client.start("signal-waiter").input({});
      await waitFor("the run to wait for its signal", async () => {
        const w = await client.get(run.id);
        return w.status === "SLEEPING" && w.waits.some((x) => x.name === "go");
      });
      assert.equal((await client.pause(run.id)).status, "PAUSED");
      first.kill("SIGKILL");
      await first.status;
      await client.signal(run.id, "go", { n: 7 });
      assert.equal((await client.get(run.id)).status, "PAUSED", "a signal does not wake it");

      await using second = await startWorker(server.url, {
        types: ["signal-waiter"],
        journal: journal.path,
      });
      // The new worker serves the type: a fresh run of it completes, the paused run waits.
      const other = await client.start("signal-waiter").input({});
      await client.signal(other.id, "go", { n: 1 });
      await other.result({ timeout: "30s" });
      assert.equal((await client.get(run.id)).status, "PAUSED");

      await client.resume(run.id);
      assert.deepEqual(await run.result({ timeout: "30s" }), { n: 7 });
      const steps = readJournal(journal.path).filter((e) => e.run === run.id).map((e) => e.step);
      assert.deepEqual(steps, ["before", "after"], "before ran once, before the kill");
      assert.ok(second.pid);
    });

    await t.step(
      "pauseType holds a type's runs and its new starts; resumeType lets go",
      async () => {
        const flows = {
          batch: (ctx: Context, n: number) => ctx.step("x").run(() => n),
          other: (ctx: Context, n: number) => ctx.step("y").run(() => n),
        };
        const r1 = await client.start("batch").input(1);
        const r2 = await client.start("batch").input(2);
        assert.deepEqual(await client.pauseType("batch"), { paused: 2 });
        const r3 = await client.start("batch").input(3);
        const worker = await Worker.builder(server.url).workflows(flows).build();
        const running = worker.run();
        try {
          assert.equal(
            await (await client.start("other").input(10)).result({ timeout: "30s" }),
            10,
          );
          // Started while the worker's poll waits for work: not handed to it either.
          const r4 = await client.start("batch").input(4);
          assert.equal(
            await (await client.start("other").input(11)).result({ timeout: "30s" }),
            11,
          );
          const statuses = await Promise.all(
            [r1, r2, r3, r4].map(async (r) => (await client.get(r.id)).status),
          );
          assert.deepEqual(statuses, ["PAUSED", "PAUSED", "PENDING", "PENDING"]);
          assert.deepEqual(await client.resumeType("batch"), { resumed: 2 });
          const outs = await Promise.all([r1, r2, r3, r4].map((r) => r.result({ timeout: "30s" })));
          assert.deepEqual(outs, [1, 2, 3, 4]);
        } finally {
          await worker.shutdown();
          await running;
        }
        await assert.rejects(client.pauseType(""), (e: KagziError) => {
          assert.equal(e.code, "INVALID_ARGUMENT");
          assert.equal(e.subject, "workflow_type");
          return true;
        });
      },
    );

    await t.step("cancel ends a paused run", async () => {
      const run = await client.start("nobody").input({});
      await client.pause(run.id);
      const w = await client.cancel(run.id).reason("no longer needed");
      assert.equal(w.status, "CANCELLED");
      await assert.rejects(run.result(), /no longer needed/);
    });

    await t.step("bad input is refused naming the field", async () => {
      const code = (c: string, subject?: string) => (e: KagziError) => {
        assert.equal(e.code, c);
        if (subject) assert.equal(e.subject, subject);
        return true;
      };
      await assert.rejects(client.pause(crypto.randomUUID()), code("NOT_FOUND"));
      await assert.rejects(client.pause("not-a-uuid"), code("INVALID_ARGUMENT", "run_id"));
      await assert.rejects(client.pause("a\u0000b"), code("INVALID_ARGUMENT", "run_id"));
      const run = await client.start("nobody").input({});
      await assert.rejects(client.pause(run.id, { namespace: "other" }), code("NOT_FOUND"));
      await assert.rejects(client.resume(run.id), (e: KagziError) => {
        assert.equal(e.code, "PRECONDITION_FAILED");
        assert.match(e.message, /is PENDING; only PARKED or PAUSED runs can be resumed/);
        return true;
      });
      await client.pause(run.id);
      await assert.rejects(
        client.resume(run.id, { fromHere: true }),
        code("INVALID_ARGUMENT", "from_here"),
      );
      await client.cancel(run.id);
      await assert.rejects(client.pause(run.id), (e: KagziError) => {
        assert.equal(e.code, "PRECONDITION_FAILED");
        assert.match(e.message, /is CANCELLED; only PENDING, RUNNING or SLEEPING/);
        return true;
      });
    });
  });
}
