/**
 * A worker killed with kill -9 while a run's last step output is held back for its completion
 * (the step ran, the workflow has not returned): the output was never stored, so another worker
 * runs that step again and completes the run once; the steps stored before stay as they were.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { startTestServer } from "./_server.ts";
import { startWorker, tempJournal, waitFor } from "./_worker.ts";
import { backend, completedSteps, entriesOf, shortLeases, workerIdOf } from "./_crash.ts";

Deno.test(
  `kill -9 between the last step and the completion: the step runs again, the run completes once (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: shortLeases });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    const opts = { types: ["last-step-block"], journal: journal.path };
    await using a = await startWorker(server.url, opts);
    await using b = await startWorker(server.url, opts);
    const byPid = new Map([[a.pid, a], [b.pid, b]]);

    const run = await client.start("last-step-block").input({ blockMs: 5_000 });
    await waitFor("step three to run", () => entriesOf(journal.path, run.id).length >= 3);
    const victim = byPid.get(entriesOf(journal.path, run.id)[2].pid)!;
    const survivor = victim === a ? b : a;
    // The victim is inside its synchronous block: three's output is held back, not stored.
    const before = completedSteps(await client.listSteps(run.id));
    assert.deepEqual([...before.keys()].sort(), ["one#1", "two#1"]);
    victim.kill("SIGKILL");
    assert.equal((await victim.status).signal, "SIGKILL");

    assert.deepEqual(await run.result({ timeout: "30s" }), { out: [1, 2, 3], runId: run.id });
    assert.deepEqual(
      entriesOf(journal.path, run.id).map((e) => [e.step, e.pid]),
      [
        ["one", victim.pid],
        ["two", victim.pid],
        ["three", victim.pid],
        ["three", survivor.pid],
      ],
      "one and two ran once; three ran again after the kill",
    );
    const stored = completedSteps(await client.listSteps(run.id));
    assert.deepEqual([...stored.keys()].sort(), ["one#1", "three#1", "two#1"]);
    const victimId = workerIdOf(victim);
    assert.equal(stored.get("one#1")!.workerId, victimId);
    assert.equal(stored.get("two#1")!.workerId, victimId);
    assert.equal(stored.get("three#1")!.workerId, workerIdOf(survivor));
    assert.deepEqual(stored.get("one#1")!.finishedAt, before.get("one#1")!.finishedAt);
    const w = await client.get(run.id);
    assert.equal(w.status, "COMPLETED");
  },
);
