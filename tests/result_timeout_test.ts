/**
 * `result({ timeout })` bounds the wait for a run to end, not the round trip: on both backends, a
 * run that had already ended gives its output (or its failure) however short the timeout, through
 * `handle.result`, `run.result`, a fresh client, a server without WaitRuns and the
 * CLI's `--wait --timeout` / `run result --timeout`; a run still open is a TIMEOUT saying it did
 * not end within the timeout, soon after it (not a long poll later); with the server gone, a
 * TIMEOUT says the end could not be told, within 2 s of the timeout.
 */
import assert from "node:assert/strict";
import {
  type Context,
  Kagzi,
  KagziError,
  NonRetryableError,
  Worker,
  WorkflowFailedError,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { expect, kagzi } from "./_cli.ts";
import { startTestServer } from "./_server.ts";
import { olderServer } from "./_older_server.ts";

async function simple(ctx: Context, input: { x: number }) {
  return { twice: await ctx.step("a").run(() => input.x * 2) };
}

async function failing(ctx: Context) {
  await ctx.step("ok").run(() => 1);
  throw new NonRetryableError("failed on purpose");
}

/** Short timeouts, each as a number of ms and as text. */
const shortTimeouts = [0, 1, 5, "1ms", "10ms"] as const;

/** Asserts that `p` rejects with a TIMEOUT saying the run did not end within `ms`. */
async function assertTimedOut(p: Promise<unknown>, runId: string, ms: number) {
  await assert.rejects(p, (e: KagziError) => {
    assert.equal(e.code, "TIMEOUT", e.message);
    assert.equal(e.message, `Workflow run ${runId} did not end within ${ms} ms`);
    return true;
  });
}

for (const backend of await backends()) {
  Deno.test(`result({ timeout }) of an ended run gives its outcome on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url).workflows({ simple, failing }).build();
    const running = worker.run();
    try {
      const done = await client.start("simple").input({ x: 1 }).id("done-1");
      assert.deepEqual(await done.result(), { twice: 2 });
      const failed = await client.start("failing").input({}).id("failed-1");
      await assert.rejects(failed.result(), WorkflowFailedError);

      await t.step("a completed run's output, however short the timeout", async () => {
        for (const timeout of shortTimeouts) {
          const what = `timeout ${JSON.stringify(timeout)}`;
          assert.deepEqual(await client.handle(done.id).result({ timeout }), { twice: 2 }, what);
          assert.deepEqual(await done.result({ timeout }), { twice: 2 }, what);
          const byWorkflowId = client.handle({ workflowId: "done-1" });
          assert.deepEqual(await byWorkflowId.result({ timeout }), { twice: 2 }, what);
        }
        // A client that never heard of the run.
        const fresh = await Kagzi.connect(server.url);
        assert.deepEqual(await fresh.handle(done.id).result({ timeout: 1 }), { twice: 2 });
      });

      await t.step("a failed run's failure, however short the timeout", async () => {
        for (const timeout of shortTimeouts) {
          await assert.rejects(
            client.handle(failed.id).result({ timeout }),
            (e: Error) => e instanceof WorkflowFailedError && /failed on purpose/.test(e.message),
          );
          await assert.rejects(failed.result({ timeout }), WorkflowFailedError);
        }
      });

      await t.step("an unknown run is NOT_FOUND, not TIMEOUT", async () => {
        await assert.rejects(
          client.handle(crypto.randomUUID()).result({ timeout: 0 }),
          (e: KagziError) => e.code === "NOT_FOUND",
        );
      });

      await t.step("a run still open is a TIMEOUT soon after its timeout", async () => {
        const open = await client.start("nobody-serves-this");
        for (const ms of [0, 5, 300]) {
          const t0 = Date.now();
          await assertTimedOut(client.handle(open.id).result({ timeout: ms }), open.id, ms);
          const took = Date.now() - t0;
          assert.ok(took >= ms && took < ms + 5_000, `a ${ms} ms timeout took ${took} ms`);
        }
        // Several at once: those ended give their outcome, the open one times out.
        const all = await Promise.allSettled([
          client.handle(done.id).result({ timeout: 1 }),
          client.handle(open.id).result({ timeout: 1 }),
          client.handle(failed.id).result({ timeout: 1 }),
        ]);
        assert.deepEqual(all[0], { status: "fulfilled", value: { twice: 2 } });
        assert.equal(all[1].status === "rejected" && all[1].reason.code, "TIMEOUT");
        assert.ok(all[2].status === "rejected" && all[2].reason instanceof WorkflowFailedError);
        await open.cancel();
      });

      await t.step("the CLI's --wait --timeout and run result --timeout", async () => {
        const cli = (...args: string[]) => kagzi(args, { KAGZI_ADDRESS: server.url });
        const ok = expect(
          await cli("run", "start", "simple", "--id", "done-1", "--wait", "--timeout", "1ms"),
          0,
          "--wait on a completed run",
        ).json();
        assert.equal(ok.runId, done.id);
        assert.deepEqual(ok.output, { twice: 2 });
        const bad = expect(
          await cli("run", "start", "failing", "--id", "failed-1", "--wait", "--timeout", "1ms"),
          1,
          "--wait on a failed run",
        );
        assert.match(bad.stderr, /FAILED: failed on purpose/);
        assert.deepEqual(
          expect(await cli("run", "result", "done-1", "--timeout", "1ms"), 0, "result").json(),
          { twice: 2 },
        );
        expect(await cli("run", "result", "failed-1", "--timeout", "1ms"), 1, "failed result");
        const open = await client.start("nobody-serves-this");
        const waited = expect(
          await cli(
            "run",
            "start",
            "nobody-serves-this",
            "--id",
            open.workflowId,
            "--wait",
            "--timeout",
            "50ms",
          ),
          3,
          "--wait on an open run",
        );
        assert.match(waited.stderr, new RegExp(`Workflow run ${open.id} did not end within 50 ms`));
        const result = expect(
          await cli("run", "result", open.id, "--timeout", "50ms"),
          3,
          "result of an open run",
        );
        assert.match(result.stderr, new RegExp(`Run ${open.id} did not end within 50 ms`));
        await open.cancel();
      });

      await t.step("a server without WaitRuns: GetWorkflow tells the same", async () => {
        const proxy = olderServer(server.url, "kagzi.v1.WorkflowService/WaitRuns");
        try {
          const old = await Kagzi.connect(proxy.url);
          assert.deepEqual(await old.handle(done.id).result({ timeout: 0 }), { twice: 2 });
          await assert.rejects(old.handle(failed.id).result({ timeout: 1 }), WorkflowFailedError);
          const open = await old.start("nobody-serves-this");
          await assertTimedOut(old.handle(open.id).result({ timeout: 20 }), open.id, 20);
          await open.cancel();
        } finally {
          await proxy.shutdown();
        }
      });
    } finally {
      await worker.shutdown();
      await running;
    }

    await t.step("with the server gone, a TIMEOUT within 2 s of the timeout", async () => {
      // The default retryTimeout (30 s) does not stretch the timeout: the peek gives up in 2 s.
      const c = await Kagzi.connect(server.url);
      const open = await c.start("nobody-serves-this");
      await server.stop();
      const t0 = Date.now();
      await assert.rejects(open.result({ timeout: 100 }), (e: KagziError) => {
        assert.equal(e.code, "TIMEOUT");
        assert.match(e.message, /^Cannot tell whether workflow run .* ended within 100 ms: /);
        return true;
      });
      assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
    });
  });
}
