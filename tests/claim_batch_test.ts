/**
 * Polls that ask together share claim queries (server/services/_claims.ts): the polls that
 * arrive while a claim of the same workflow types runs are claimed for in the next one, each
 * with its own worker and limit, against a real server process; and through a database that
 * drops every connection, no run is handed to two polls and every run ends.
 */
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { Kagzi } from "@kagzi/sdk";
import type { Task } from "@kagzi/proto";
import { backends, dropEveryConnection } from "./_db.ts";
import { json, workerRpc } from "./_raw.ts";
import { metricSum } from "./_metrics.ts";
import { startTestServer } from "./_server.ts";

const type = "claimedTogether";

for (const backend of await backends()) {
  Deno.test(`polls that ask together share claim queries (${backend})`, async (t) => {
    await using server = await startTestServer(backend, {
      args: ["--lease-ms", "3000", "--heartbeat-interval-ms", "1000"],
    });
    const rpc = workerRpc(server.url);
    const client = await Kagzi.connect(server.url);
    const register = () => rpc.register({ workflowTypes: [{ workflowType: type }] });
    const workers = await Promise.all(Array.from({ length: 10 }, register));
    const poll = (workerId: string) =>
      rpc.pollTask({ workerId, maxTasks: 5, timeout: { seconds: 1n } });
    const complete = (workerId: string, task: Task) =>
      rpc.completeWorkflow({
        workerId,
        lease: { runId: task.runId, fence: task.fence },
        output: json(1),
      });

    await t.step(
      "ten polls at once: each its own runs, up to its limit, in fewer queries",
      async () => {
        const start = (i: number) => client.start(type).id(`together-${i}`).input({ i });
        const older = await Promise.all(Array.from({ length: 50 }, (_, i) => start(i)));
        const newer = await Promise.all(Array.from({ length: 10 }, (_, i) => start(50 + i)));
        const runs = [...older, ...newer];
        const queries = await metricSum(server.url, "kagzi_claim_queries_total");
        const polls = await metricSum(server.url, "kagzi_claim_polls_total");
        const answers = await Promise.all(workers.map((w) => poll(w.workerId)));
        const claimedQueries = await metricSum(server.url, "kagzi_claim_queries_total") - queries;
        assert.equal(await metricSum(server.url, "kagzi_claim_polls_total") - polls, 10);
        // One query per poll without the sharing; the first claims alone, the rest wait for it.
        assert.ok(claimedQueries < 10, `${claimedQueries} claim queries for 10 polls`);
        const ids = answers.flatMap((a) => a.tasks.map((x) => x.runId));
        assert.deepEqual(answers.map((a) => a.tasks.length), Array(10).fill(5));
        assert.equal(new Set(ids).size, 50, "no run is handed to two polls");
        // The oldest first: the ten started last are left.
        assert.deepEqual([...ids].sort(), older.map((r) => r.id).sort());
        // Each run is leased to the worker whose poll got it, not to a neighbour's.
        const leases = (tasks: Task[]) => tasks.map((x) => ({ runId: x.runId, fence: x.fence }));
        for (const [i, a] of answers.entries()) {
          const own = await rpc.heartbeat({
            workerId: workers[i].workerId,
            leases: leases(a.tasks),
          });
          assert.deepEqual(own.lostRunIds, []);
          const other = workers[(i + 1) % 10].workerId;
          const neighbour = await rpc.heartbeat({ workerId: other, leases: leases(a.tasks) });
          assert.deepEqual(neighbour.lostRunIds.sort(), a.tasks.map((x) => x.runId).sort());
        }
        await Promise.all(
          answers.flatMap((a, i) => a.tasks.map((task) => complete(workers[i].workerId, task))),
        );
        // The ten left go to the next polls, which then find nothing more.
        const rest = await Promise.all(workers.slice(0, 3).map((w) => poll(w.workerId)));
        const restIds = rest.flatMap((a) => a.tasks.map((x) => x.runId)).sort();
        assert.deepEqual(restIds, runs.slice(50).map((r) => r.id).sort());
        await Promise.all(
          rest.flatMap((a, i) => a.tasks.map((task) => complete(workers[i].workerId, task))),
        );
        for (const r of runs) assert.equal(await r.result(), 1);
      },
    );

    if (backend !== "postgres") return;
    await t.step("the database drops every connection: each run handed once, all end", async () => {
      const runs = await Promise.all(
        Array.from({ length: 200 }, (_, i) => client.start(type).id(`fault-${i}`).input({ i })),
      );
      const handed = new Set<string>();
      const codes = new Set<Code>();
      const fault = () => dropEveryConnection(server.databaseUrl, 3, 100);
      const open = async () =>
        (await Promise.all(runs.map((r) => client.get(r.id))))
          .filter((r) => r.status !== "COMPLETED").length;
      let faulted: Promise<void> | undefined;
      // Bounded: a run whose answer was lost waits for its 3 s lease, then is claimed again.
      const loops = workers.map(async (w) => {
        for (let round = 0; round < 200; round++) {
          let tasks: Task[];
          try {
            tasks = (await poll(w.workerId)).tasks;
          } catch (e) {
            codes.add(ConnectError.from(e).code);
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          if (!tasks.length && await open() === 0) return;
          for (const task of tasks) {
            const key = `${task.runId}/${task.fence}`;
            assert.ok(!handed.has(key), `${key} handed to two polls`);
            handed.add(key);
            await complete(w.workerId, task).catch((e) => codes.add(ConnectError.from(e).code));
          }
          if (round === 1 && !faulted) faulted = fault();
        }
      });
      await Promise.all(loops);
      await faulted;
      assert.ok(faulted, "the fault happened while polls claimed");
      assert.equal(await open(), 0, "every run ended");
      for (const code of codes) {
        assert.equal(code, Code.Unavailable, `a transient fault answered ${Code[code]}`);
      }
      for (const r of runs) assert.equal(await r.result(), 1);
    });
  });
}
