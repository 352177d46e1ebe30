/**
 * Step outputs that travel with a suspension (SleepRequest.steps): a workflow that goes to a
 * durable sleep right after a step stores that step's output in the suspension's commit (one
 * call and one commit less), and the replay after the sleep finds it. With the SDK's worker
 * against a real server process; over the raw wire (bad input, a lost lease, a step stored
 * before, a paused run); on Postgres, that it is one commit. A run its Sleep leaves due at once
 * goes straight to the worker's waiting poll.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { metricSum } from "./_metrics.ts";
import { badStepLists, rawWorker, refusedCarries, stepOutput, workerRpc } from "./_raw.ts";
import { startTestServer } from "./_server.ts";

const failed = (code: Code, re: RegExp) => (e: ConnectError) =>
  e.code === code && re.test(e.rawMessage);

const ran: Record<string, number> = {};

async function blink(ctx: Context) {
  const a = await ctx.step("a").run(() => 1);
  await ctx.sleep("blink", "1ms");
  return await ctx.step("b").run(() => a + 1);
}

async function nap(ctx: Context, n: number) {
  const a = await ctx.step("a").run(() => (ran.a = (ran.a ?? 0) + 1, n + 1));
  await ctx.sleep("nap", "50ms");
  return await ctx.step("b").run(() => (ran.b = (ran.b ?? 0) + 1, a * 2));
}

for (const backend of await backends()) {
  Deno.test(`step outputs travel with the suspension (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const stored = async (runId: string) =>
      (await client.handle(runId).steps()).filter((s) => s.kind === "function")
        .map((s) => `${s.name}:${s.status}:${JSON.stringify(s.output)}`);

    await t.step("a step before a sleep is stored with the Sleep, once", async () => {
      for (const k of Object.keys(ran)) delete ran[k];
      // Suspended, not held on the worker (held_sleep_test.ts): the replay is what is tested.
      const worker = await Worker.builder(server.url).logger(false).holdSleeps(0).workflows({ nap })
        .build();
      const loop = worker.run();
      try {
        const run = await client.start("nap").input(1);
        assert.equal(await run.result(), 4);
        assert.deepEqual(ran, { a: 1, b: 1 }, "the replay after the sleep found a's output");
        assert.deepEqual(await stored(run.id), ["a:COMPLETED:2", "b:COMPLETED:4"]);
        const { rpcs } = worker.stats;
        assert.equal(rpcs.sleep, 1);
        assert.equal(rpcs.completeStep ?? 0, 0, "a with the Sleep, b with the completion");
        if (backend === "postgres") {
          const sql = postgres(server.databaseUrl, { max: 1 });
          try {
            const rows = await sql`select kind, name, xmin::text as x from kagzi_steps
                                   where run_id = ${run.id} order by started_at, kind`;
            const x = Object.fromEntries(rows.map((r) => [`${r.kind}:${r.name}`, r.x]));
            assert.equal(
              x["FUNCTION:a"],
              x["SLEEP:nap"],
              "a's output and the suspension: one commit",
            );
          } finally {
            await sql.end();
          }
        }
      } finally {
        await worker.shutdown();
        await loop;
      }
    });

    await t.step("a run due at once after its Sleep goes to the waiting poll", async () => {
      const worker = await Worker.builder(server.url).logger(false).holdSleeps(0)
        .workflows({ blink }).build();
      const loop = worker.run();
      const matched = () => metricSum(server.url, "kagzi_runs_matched_total");
      try {
        assert.equal(await (await client.start("blink")).result(), 2);
        const before = await matched();
        const runs = 10;
        for (let i = 0; i < runs; i++) {
          assert.equal(await (await client.start("blink")).result(), 2);
        }
        // Each start is handed to the waiting poll (one each); a wake-up handed too counts one
        // more (a poll not waiting at that moment leaves the run to the claim, as before).
        const handed = await matched() - before;
        assert.ok(handed > runs, `${handed} runs handed over for ${runs} starts`);
      } finally {
        await worker.shutdown();
        await loop;
      }
    });

    await t.step("over the raw wire: stored with it, or nothing suspends", async () => {
      const rpc = workerRpc(server.url);
      const { registered, workerId, claim } = await rawWorker(rpc, client, "raw-sleep");
      assert.equal(registered.stepsWithSleep, true);
      const step = stepOutput;
      const status = async (id: string) => (await client.handle(id).get()).status;
      const wakeUpAt = timestampFromDate(new Date(Date.now() + 3_600_000));
      const sleep = (lease: { runId: string; fence: bigint }, steps: unknown[]) =>
        rpc.sleep({
          workerId,
          lease,
          sleeps: [{ step: { kind: 2, name: "nap", occurrence: 1 }, wakeUpAt }],
          resumeAt: wakeUpAt,
          steps: steps as never,
        });

      const ok = await claim();
      await sleep(ok.lease, [step("x", 1), step("x", 2, 2)]);
      assert.equal(await status(ok.run.id), "SLEEPING");
      assert.deepEqual(await stored(ok.run.id), ["x:COMPLETED:1", "x:COMPLETED:2"]);
      await client.cancel(ok.run.id);

      // Bad input names the field; nothing is stored and the run is still held.
      const bad = await claim();
      for (const [steps, re] of badStepLists) {
        await assert.rejects(sleep(bad.lease, steps), failed(Code.InvalidArgument, re));
      }
      assert.equal(await status(bad.run.id), "RUNNING");
      assert.deepEqual(await stored(bad.run.id), []);

      // A lost lease, an output stored before, a paused run: nothing suspends.
      await refusedCarries({ rpc, client, workerId, claim, held: bad, stored, send: sleep });

      // Two outputs (stored in a transaction; one output alone is one statement): a stale fence
      // stores nothing; a run paused meanwhile keeps the outputs and does not suspend.
      const two = await claim();
      const pair = [step("m", 1), step("n", 2)];
      const lost = failed(Code.FailedPrecondition, /lease/i);
      await assert.rejects(sleep({ ...two.lease, fence: two.lease.fence + 1n }, pair), lost);
      assert.deepEqual(await stored(two.run.id), []);
      await client.pause(two.run.id);
      await assert.rejects(sleep(two.lease, pair), lost);
      assert.equal(await status(two.run.id), "PAUSED");
      assert.deepEqual(await stored(two.run.id), ["m:COMPLETED:1", "n:COMPLETED:2"]);
      await client.cancel(two.run.id);
    });
  });
}
