/**
 * How work reaches polling workers (server/engine/dispatch.ts), against a real server process:
 * a start hands its run to a waiting poll in its own insert (sync match), a due run wakes one
 * poll rather than all, and with many idle workers the claim queries per run stay bounded.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { workerRpc } from "./_raw.ts";
import { inFlight, metricSum } from "./_metrics.ts";
import { waitFor } from "./_worker.ts";

/** Sums a counter of the server's /metrics over its label sets. */
const counter = (url: string, name: string) => metricSum(url, name);

async function threeSteps(ctx: Context, input: { i: number }) {
  const a = await ctx.step("a").run(() => input.i);
  const b = await ctx.step("b").run(() => a + 1);
  return await ctx.step("c").run(() => b + 1);
}

for (const backend of await backends()) {
  Deno.test(`a start hands its run to a waiting poll, already claimed (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const rpc = workerRpc(server.url);
    const client = await Kagzi.connect(server.url);
    const handed = [{ workflowType: "handed" }];
    // The first poll claims (nothing yet) and then waits: the server counts its claim query and
    // enters the wait in one synchronous stretch, so once the count shows, the poll is waiting.
    // A fresh worker each time: a worker whose last claim found everything waits without one.
    const idle = async (types: { workflowType: string; versions?: string[] }[] = handed) => {
      const { workerId: id } = await rpc.register({ workflowTypes: types });
      const before = await counter(server.url, "kagzi_claim_queries_total");
      const abort = new AbortController();
      const poll = rpc.pollTask({ workerId: id, maxTasks: 5, timeout: { seconds: 60n } }, {
        signal: abort.signal,
      });
      await waitFor(
        "the poll's first claim query",
        async () => await counter(server.url, "kagzi_claim_queries_total") > before,
      );
      // Wrapped: an async function returning the promise itself would wait for it.
      return { poll, abort, workerId: id };
    };

    await t.step("the waiting poll gets the run with its first fence and input", async () => {
      const { poll, workerId } = await idle();
      const matched = await counter(server.url, "kagzi_runs_matched_total");
      const run = await client.start("handed").id("handed-1").input({ n: 7 });
      const { tasks } = await poll;
      assert.equal(tasks.length, 1);
      assert.equal(tasks[0].runId, run.id);
      assert.equal(tasks[0].fence, 1n);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(tasks[0].input!.data)), { n: 7 });
      assert.equal(await counter(server.url, "kagzi_runs_matched_total"), matched + 1);
      const stored = await client.get(run.id);
      assert.equal(stored.status, "RUNNING");
      assert.ok(stored.startedAt);
      // The handed lease is real: the worker completes the run with it.
      const lease = { runId: run.id, fence: tasks[0].fence };
      await rpc.completeWorkflow({
        workerId,
        lease,
        output: { data: new TextEncoder().encode("1"), metadata: { encoding: "json" } },
      });
      assert.equal(await run.result(), 1);
    });

    await t.step("a start whose workflow_id is taken hands nothing over", async () => {
      const holder = await client.start("handed").id("taken");
      const { poll } = await idle();
      // The open run is claimed by this poll's first claim query.
      const first = await poll;
      assert.deepEqual(first.tasks.map((x) => x.runId), [holder.id]);
      const { poll: next } = await idle();
      const again = await client.start("handed").id("taken");
      assert.equal(again.id, holder.id);
      assert.equal(again.alreadyExists, true);
      const other = await client.start("handed").id("free");
      const { tasks } = await next;
      assert.deepEqual(tasks.map((x) => x.runId), [other.id], "the duplicate did not use the poll");
    });

    await t.step("a run of a version the poll does not serve stays queued", async () => {
      const { poll, abort } = await idle([{ workflowType: "versioned", versions: ["v2"] }]);
      // A start hands its run over (or not) in its own insert: PENDING now means not handed.
      const run = await client.start("versioned").version("v1");
      assert.equal((await client.get(run.id)).status, "PENDING");
      abort.abort();
      await poll.catch(() => {});
      await waitFor("the poll to end", async () => await inFlight(server.url, "PollTask") === 0);
      assert.equal((await client.get(run.id)).status, "PENDING");
      await client.cancel(run.id);
    });

    await t.step("a poll whose caller hung up is gone and is handed nothing", async () => {
      const { poll, abort } = await idle();
      assert.equal(await inFlight(server.url, "PollTask"), 1);
      abort.abort();
      await poll.catch(() => {});
      // The server notices the hang-up and ends the poll (it asked to wait 60 s).
      await waitFor(
        "the server to end the poll",
        async () => await inFlight(server.url, "PollTask") === 0,
      );
      const run = await client.start("handed").id("after-hang-up");
      assert.equal((await client.get(run.id)).status, "PENDING", "a hung-up poll claims nothing");
    });
  });
}

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
Deno.test(`with ten idle workers a run costs at most two claim queries (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const workers = await Promise.all(
    Array.from(
      { length: 10 },
      () => Worker.builder(server.url).maxConcurrent(2).workflows({ threeSteps }).build(),
    ),
  );
  const running = workers.map((w) => w.run());
  try {
    const client = await Kagzi.connect(server.url);
    // Every worker's first poll has claimed (nothing) and waits.
    await waitFor("ten polls waiting", async () =>
      await inFlight(server.url, "PollTask") === 10 &&
      await counter(server.url, "kagzi_polls_waiting") === 10);
    const claimsBefore = await counter(server.url, "kagzi_claim_queries_total");
    const n = 100;
    let next = 0;
    const results: number[] = [];
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        results.push(await (await client.start<number>("threeSteps").input({ i })).result());
      }
    }));
    assert.equal(results.length, n);
    const claims = await counter(server.url, "kagzi_claim_queries_total") - claimsBefore;
    const matched = await counter(server.url, "kagzi_runs_matched_total");
    // Waking every idle poll on every start made this about ten per run.
    assert.ok(claims / n <= 2, `${claims} claim queries for ${n} runs`);
    assert.ok(matched > 0, "some starts found a poll waiting");
    const done = await client.list().status("COMPLETED").pageSize(200);
    assert.equal(done.workflows.length, n);
  } finally {
    await Promise.all(workers.map((w) => w.shutdown()));
    await Promise.all(running);
  }
});
