/**
 * Crash tests with real processes and real `kill -9`: workers and servers die in the middle of
 * runs, and the runs still finish, with completed steps never run again (DESIGN.md invariants
 * 1-3: one owner at a time, steps memoized, nothing lost).
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import postgres from "postgres";
import { startTestServer } from "./_server.ts";
import { assertNoLeaseDrift } from "./_lease.ts";
import { readJournal, startWorker, tempJournal, waitFor, type WorkerProcess } from "./_worker.ts";
import {
  assertNoRunAfterStored,
  backend,
  completedSteps,
  entriesOf,
  leaseMs,
  shortLeases,
  slackMs,
  sleep,
  workerIdOf,
} from "./_crash.ts";

Deno.test(
  `a worker killed with kill -9 in the middle of a step: another worker finishes the run, completed steps are not re-run, the killed step re-runs (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: shortLeases });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    const opts = { types: ["three-steps"], journal: journal.path };
    // Both workers are up before the run starts, so the kill lands mid-step however slow a
    // process start is; whichever claims the run is the victim.
    await using a = await startWorker(server.url, opts);
    await using b = await startWorker(server.url, opts);
    const byPid = new Map([[a.pid, a], [b.pid, b]]);

    const run = await client.start("three-steps").input({ stepMs: 1_500 });
    // After two heartbeats the lease still ends within one lease of now (no drift).
    if (server.backend === "postgres") {
      await assertNoLeaseDrift(server.databaseUrl, run.id, leaseMs);
    }
    await waitFor("step two to start", () => entriesOf(journal.path, run.id).length >= 2);
    const victim = byPid.get(entriesOf(journal.path, run.id)[0].pid)!;
    const survivor = victim === a ? b : a;
    const victimId = workerIdOf(victim);
    const survivorId = workerIdOf(survivor);
    victim.kill("SIGKILL");
    const killedAt = Date.now();
    const status = await victim.status;
    assert.equal(status.signal, "SIGKILL");

    const output = await run.result({ timeout: "30s" });
    assert.deepEqual(output, { out: [1, 2, 3], runId: run.id });

    const entries = entriesOf(journal.path, run.id);
    assert.deepEqual(
      entries.map((e) => [e.step, e.pid]),
      [
        ["one", victim.pid],
        ["two", victim.pid],
        ["two", survivor.pid],
        ["three", survivor.pid],
      ],
      "one ran once, two ran on both workers (killed, then again), three ran once",
    );
    const takeover = entries[2].at - killedAt;
    assert.ok(takeover >= 0, "the re-run of two started after the kill");
    console.log(`kill -9: taken over ${takeover} ms after the kill (lease ${leaseMs} ms)`);

    const w = await client.get(run.id);
    assert.equal(w.status, "COMPLETED");
    assert.ok(w.attempts >= 2, `lease recovery counts an attempt: ${w.attempts}`);

    const stored = completedSteps(await client.listSteps(run.id));
    assert.deepEqual([...stored.keys()].sort(), ["one#1", "three#1", "two#1"]);
    assert.equal(stored.get("one#1")!.workerId, victimId, "one was stored by the killed worker");
    assert.ok(stored.get("one#1")!.finishedAt!.getTime() <= killedAt + slackMs);
    assert.equal(stored.get("two#1")!.workerId, survivorId);
    assert.equal(stored.get("three#1")!.workerId, survivorId);
    assertNoRunAfterStored(entries, stored);
  },
);

Deno.test(
  `the server killed with kill -9 mid-run and restarted: the run finishes (${backend})`,
  async (t) => {
    // Down briefly, then down for longer than a lease (a slow deploy): either way the run
    // ends COMPLETED; a worker that cannot reach the server must not turn the outage into a
    // failure of the run.
    for (const downMs of [0, leaseMs + 1_000]) {
      await t.step(`restarted after ${downMs} ms`, () => serverCrash(downMs));
    }
  },
);

async function serverCrash(downMs: number): Promise<void> {
  await using server = await startTestServer(backend, { args: shortLeases });
  await using journal = await tempJournal();
  const client = await Kagzi.connect(server.url);
  await using worker = await startWorker(server.url, {
    types: ["three-steps"],
    journal: journal.path,
  });

  const run = await client.start("three-steps").input({ stepMs: 1_000 });
  // Kill while step two runs: step one's output was stored (step two starts only after
  // CompleteStep of one returned), step two is in flight.
  await waitFor("step two to start", () => entriesOf(journal.path, run.id).length >= 2);
  server.kill("SIGKILL");
  const killedAt = Date.now();
  assert.equal((await server.status).signal, "SIGKILL");
  await sleep(downMs);

  // Same database (or data directory) and ports; the worker reconnects by itself.
  const again = await server.restart({ port: server.port, grpcPort: server.grpcPort });
  assert.equal(again.url, server.url);
  const restartMs = Date.now() - killedAt;
  const output = await run.result({ timeout: "30s" }).catch((err) => {
    throw new Error(
      `run ${run.id} did not complete (server down ${restartMs} ms): ${err}\n` +
        `journal: ${JSON.stringify(entriesOf(journal.path, run.id))}\n` +
        `worker output: ${worker.output().slice(-2_000)}`,
    );
  });
  assert.deepEqual(output, { out: [1, 2, 3], runId: run.id });

  const w = await client.get(run.id);
  assert.equal(w.status, "COMPLETED");
  const entries = entriesOf(journal.path, run.id);
  const count = (step: string) => entries.filter((e) => e.step === step).length;
  assert.equal(count("one"), 1, "one was stored before the kill and is not run again");
  for (const step of ["two", "three"]) {
    assert.ok(count(step) >= 1 && count(step) <= 2, `${step} ran ${count(step)} times`);
  }
  assert.ok(entries.every((e) => e.pid === worker.pid), "the same worker process ran it all");
  const stored = completedSteps(await client.listSteps(run.id));
  assert.deepEqual([...stored.keys()].sort(), ["one#1", "three#1", "two#1"]);
  assert.ok(
    stored.get("one#1")!.finishedAt!.getTime() <= killedAt + slackMs,
    "one was stored before the kill",
  );
  assertNoRunAfterStored(entries, stored);
  console.log(
    `server down for ${restartMs} ms; executions: ${entries.map((e) => e.step).join(", ")}`,
  );
}

Deno.test(
  `200 runs across 3 workers with one worker killed every few seconds all complete (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: shortLeases });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    const total = 200;
    // Few slots per worker keep a backlog, so every kill lands on a worker holding runs.
    const opts = { types: ["three-steps"], journal: journal.path, maxConcurrent: 1 };
    const pool: WorkerProcess[] = [];
    const killed: WorkerProcess[] = [];
    try {
      pool.push(...await Promise.all([0, 1, 2].map(() => startWorker(server.url, opts))));
      const ids: string[] = [];
      for (let i = 0; i < total; i += 50) {
        const batch = await Promise.all(
          Array.from(
            { length: 50 },
            (_, j) => client.start("three-steps").input({ stepMs: 20 }).id(`chaos-${i + j}`),
          ),
        );
        ids.push(...batch.map((r) => r.id));
      }
      const completed = async () =>
        (await client.list().status("COMPLETED").pageSize(1).withTotal()).totalCount ?? 0;

      // Chaos: every ~1.5 s kill -9 a random worker and start a replacement. Bounded.
      const started = Date.now();
      const deadline = started + 90_000;
      let done = 0;
      while (Date.now() < deadline) {
        // The first kill comes soon, while every worker holds a run; then every ~1.5 s.
        const pause = Date.now() + (killed.length ? 1_200 + Math.random() * 600 : 500);
        while (Date.now() < pause && (done = await completed()) < total) await sleep(100);
        if (done >= total) break;
        const i = Math.floor(Math.random() * pool.length);
        const [victim] = pool.splice(i, 1);
        victim.kill("SIGKILL");
        await victim.status;
        killed.push(victim);
        pool.push(await startWorker(server.url, opts));
      }
      const elapsed = Date.now() - started;
      assert.equal(done, total, `only ${done} of ${total} runs completed after ${elapsed} ms`);
      assert.ok(killed.length >= 3, `the chaos loop killed only ${killed.length} workers`);

      const page = await client.list().status("COMPLETED").withTotal();
      assert.equal(page.totalCount, total);

      const journalEntries = readJournal(journal.path);
      const byRun = Map.groupBy(journalEntries, (e) => e.run);
      const killedPids = new Set(killed.map((k) => k.pid));
      let recovered = 0;
      for (let i = 0; i < ids.length; i += 20) {
        await Promise.all(
          ids.slice(i, i + 20).map(async (id) => {
            const [w, attempts] = await Promise.all([client.get(id), client.listSteps(id)]);
            assert.equal(w.status, "COMPLETED");
            assert.deepEqual(w.output, { out: [1, 2, 3], runId: id });
            if (w.attempts >= 2) recovered++;
            const entries = (byRun.get(id) ?? []).sort((a, b) => a.at - b.at);
            for (const step of ["one", "two", "three"]) {
              const n = entries.filter((e) => e.step === step).length;
              assert.ok(n >= 1, `step ${step} of ${id} never ran`);
              // A repeat needs a dead worker: the earlier executions were all on killed ones.
              const runs = entries.filter((e) => e.step === step);
              for (const e of runs.slice(0, -1)) {
                assert.ok(killedPids.has(e.pid), `step ${step} of ${id} ran twice on live workers`);
              }
            }
            const stored = completedSteps(attempts);
            assert.deepEqual([...stored.keys()].sort(), ["one#1", "three#1", "two#1"]);
            assertNoRunAfterStored(entries, stored);
          }),
        );
      }
      assert.ok(recovered >= 1, "some run was taken over from a killed worker");

      if (backend === "postgres") {
        const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
        try {
          const dups = await sql`
            select run_id, kind, name, occurrence, count(*)::int as n from kagzi_steps
            where status = 'COMPLETED' group by 1, 2, 3, 4 having count(*) > 1`;
          assert.deepEqual([...dups], [], "a step output was stored more than once");
          const rows = await sql<{ run_id: string; name: string; finished_at: Date }[]>`
            select run_id::text, name, finished_at from kagzi_steps
            where kind = 'FUNCTION' and status = 'COMPLETED'`;
          assert.equal(rows.length, total * 3);
          const finished = new Map(rows.map((r) => [`${r.run_id}/${r.name}`, r.finished_at]));
          for (const e of journalEntries) {
            const at = finished.get(`${e.run}/${e.step}`);
            assert.ok(at, `no stored output for ${e.run}/${e.step}`);
            assert.ok(
              at.getTime() >= e.at - slackMs,
              `${e.run}/${e.step} ran at ${e.at} after being stored at ${at.getTime()}`,
            );
          }
        } finally {
          await sql.end({ timeout: 1 });
        }
      }
      console.log(
        `chaos: ${total} runs in ${elapsed} ms, ${killed.length} kills, ${recovered} runs taken over, ${
          journalEntries.length - total * 3
        } step re-executions`,
      );
    } finally {
      for (const w of pool) await w[Symbol.asyncDispose]();
    }
  },
);
