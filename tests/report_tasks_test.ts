/**
 * A Report that ends runs asks for new ones (`ReportRequest.max_tasks`): the server answers with
 * runs claimed at once, leased to the worker as a poll's are, so a busy worker takes its next
 * runs with its last outcomes instead of a PollTask each. Over the raw wire against a real
 * server process; with the SDK's worker (its slots never exceeded, its polls few); and on
 * Postgres through a database that drops every connection.
 */
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Task } from "@kagzi/proto";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends, dropEveryConnection } from "./_db.ts";
import { json, workerRpc } from "./_raw.ts";
import { startTestServer } from "./_server.ts";

/** Runs of one worker executing now, and the most at once. */
type Slots = { now: number; max: number };

/** A workflow of two steps that records how many of its runs execute at once (one worker's). */
function tracked(s: Slots, running: Set<string>) {
  return async (ctx: Context, input: { i: number }) => {
    assert.ok(!running.has(ctx.runId), `run ${ctx.runId} executes twice at once`);
    running.add(ctx.runId);
    s.max = Math.max(s.max, ++s.now);
    try {
      const a = await ctx.step("a").run(() => input.i * 2);
      await new Promise((r) => setTimeout(r, 2));
      return await ctx.step("b").run(() => a + 1);
    } finally {
      s.now--;
      running.delete(ctx.runId);
    }
  };
}

for (const backend of await backends()) {
  Deno.test(`a Report that ends runs is answered with new ones (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const rpc = workerRpc(server.url);
    const client = await Kagzi.connect(server.url);

    await t.step("over the raw wire: up to max_tasks runs, each handed once", async () => {
      const type = "reported";
      const register = () => rpc.register({ workflowTypes: [{ workflowType: type }] });
      const [{ workerId }, other] = await Promise.all([register(), register()]);
      const runs = [];
      for (let i = 0; i < 5; i++) runs.push(await client.start(type).id(`r-${i}`).input({ i }));
      const [first] = (await rpc.pollTask({ workerId, maxTasks: 1 })).tasks;
      assert.equal(first.runId, runs[0].id, "the oldest first");
      const end = (task: Task) => ({
        item: {
          case: "completeWorkflow" as const,
          value: { lease: { runId: task.runId, fence: task.fence }, output: json(task.runId) },
        },
      });
      const answer = await rpc.report({ workerId, items: [end(first)], maxTasks: 2 });
      assert.equal(answer.results[0].result.case, "completeWorkflow");
      assert.deepEqual(answer.tasks.map((x) => x.runId), [runs[1].id, runs[2].id]);
      assert.deepEqual(answer.tasks.map((x) => x.fence), [1n, 1n]);
      assert.ok(answer.tasks.every((x) => x.leaseExpiresIn && x.input?.data.length));
      // Leased to this worker: its heartbeat keeps them, another's is told they are lost.
      const leases = answer.tasks.map((x) => ({ runId: x.runId, fence: x.fence }));
      assert.deepEqual((await rpc.heartbeat({ workerId, leases })).lostRunIds, []);
      const theirs = await rpc.heartbeat({ workerId: other.workerId, leases });
      assert.equal(theirs.lostRunIds.length, 2);
      // Not asked: none. The other worker's poll gets the two left, not these.
      const none = await rpc.report({ workerId, items: answer.tasks.map(end) });
      assert.deepEqual(none.tasks, []);
      const rest = await rpc.pollTask({ workerId: other.workerId, maxTasks: 5 });
      assert.deepEqual(rest.tasks.map((x) => x.runId), [runs[3].id, runs[4].id]);
      // Asked for more than there is: what there is; then nothing, without waiting.
      const last = await rpc.report({
        workerId: other.workerId,
        items: rest.tasks.map(end),
        maxTasks: 50,
      });
      assert.deepEqual(last.tasks, []);
      for (const r of runs) assert.equal(await r.result(), r.id);
      await assert.rejects(
        rpc.report({ workerId, items: [], maxTasks: -1 }),
        (e: ConnectError) => e.code === Code.InvalidArgument && /"max_tasks" -1/.test(e.rawMessage),
      );
    });

    await t.step(
      "an SDK worker of 2 slots: runs come with its Reports, never 3 at once",
      async () => {
        const slots: Slots = { now: 0, max: 0 };
        const running = new Set<string>();
        const runs = await Promise.all(
          Array.from({ length: 40 }, (_, i) => client.start("slots2").input({ i })),
        );
        const worker = await Worker.builder(server.url).maxConcurrent(2).logger(false)
          .workflow("slots2", tracked(slots, running)).build();
        const done = worker.run();
        try {
          for (const [i, r] of runs.entries()) assert.equal(await r.result(), i * 2 + 1);
        } finally {
          await worker.shutdown();
          await done;
        }
        assert.equal(slots.max, 2, "two slots, both used, never more");
        const { rpcs } = worker.stats;
        // A poll per run (or two) without the runs the Reports bring.
        assert.ok((rpcs.pollTask ?? 0) <= 10, `${rpcs.pollTask} polls for 40 runs`);
        assert.ok((rpcs.report ?? 0) >= 20, `${rpcs.report} reports for 40 runs`);
      },
    );

    await t.step(
      "runs a Report brings to a worker shutting down go back with its deregistration",
      async () => {
        // Shutdown begins while the Report ending the first run (and asking for one more) is
        // in flight: the run it brings must not be left leased to the departed worker. Which
        // way the race goes is the machine's; a few tries see the release at least once.
        let released = 0;
        for (let round = 0; round < 6 && released < 2; round++) {
          const type = `shutdownFeed${round}`;
          const executed: number[] = [];
          let worker: Worker | undefined;
          worker = await Worker.builder(server.url).maxConcurrent(1).logger(false)
            .workflow(type, async (ctx: Context, input: { i: number }) => {
              executed.push(input.i);
              await ctx.step("a").run(() => input.i);
              // After the Report is sent (a microtask), before its answer (a round trip).
              setTimeout(() => void worker?.shutdown(), 0);
              return input.i;
            }).build();
          const first = await client.start(type).input({ i: 0 });
          const second = await client.start(type).input({ i: 1 });
          await worker.run();
          assert.equal(await first.result(), 0);
          const status = (await client.get(second.id)).status;
          assert.notEqual(status, "RUNNING", "the second run is leased to a departed worker");
          if (status === "PENDING") {
            released++;
            assert.deepEqual(executed, [0], "a run brought after the shutdown began ran");
          }
          worker = undefined;
          const next = await Worker.builder(server.url).logger(false)
            .workflow(type, (_ctx: Context, input: { i: number }) => Promise.resolve(input.i))
            .build();
          const running = next.run();
          assert.equal(await second.result(), 1);
          await next.shutdown();
          await running;
        }
        assert.ok(released > 0, "the Report's answer never arrived after the shutdown began");
      },
    );

    if (backend !== "postgres") return;
    await t.step(
      "the database drops every connection: every run ends once, slots kept",
      async () => {
        const slots: Slots[] = Array.from({ length: 3 }, () => ({ now: 0, max: 0 }));
        const running = new Set<string>();
        const workers = await Promise.all(
          slots.map((s) =>
            Worker.builder(server.url).maxConcurrent(3).logger(false)
              .workflow("faulted", tracked(s, running)).build()
          ),
        );
        const runs = await Promise.all(
          Array.from({ length: 150 }, (_, i) => client.start("faulted").input({ i })),
        );
        const loops = workers.map((w) => w.run());
        try {
          // While the workers go through the backlog.
          while ((await client.get(runs[20].id)).status !== "COMPLETED") {
            await new Promise((r) => setTimeout(r, 20));
          }
          await dropEveryConnection(server.databaseUrl, 3, 100);
          for (const [i, r] of runs.entries()) assert.equal(await r.result(), i * 2 + 1);
        } finally {
          await Promise.all(workers.map((w) => w.shutdown()));
          await Promise.all(loops);
        }
        for (const s of slots) assert.ok(s.max <= 3, `${s.max} runs at once in 3 slots`);
        const polls = workers.reduce((n, w) => n + (w.stats.rpcs.pollTask ?? 0), 0);
        assert.ok(polls < 75, `${polls} polls for 150 runs: the Reports brought few`);
      },
    );
  });
}
