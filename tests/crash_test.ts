/**
 * Crash tests with real processes and real `kill -9`: workers and servers die in the middle of
 * runs, and the runs still finish, with completed steps never run again (DESIGN.md invariants
 * 1-3: one owner at a time, steps memoized, nothing lost).
 */
import assert from "node:assert/strict";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { StepKind } from "@kagzi/proto";
import { Kagzi, type StepAttemptInfo } from "@kagzi/sdk";
import postgres from "postgres";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { assertNoLeaseDrift } from "./_lease.ts";
import { workerRpc } from "./_raw.ts";
import {
  leaseFlags,
  readJournal,
  startWorker,
  tempJournal,
  waitFor,
  type WorkerProcess,
} from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

/** Short leases so a lost worker's runs are recovered in ~2-3 s. */
const leaseMs = 2_000;
const shortLeases = leaseFlags(leaseMs);

/** Clock slack between the worker processes and the database (same machine). */
const slackMs = 5;

type Entry = ReturnType<typeof readJournal>[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The journal entries of one run, in execution order. */
function entriesOf(journal: string, runId: string): Entry[] {
  return readJournal(journal).filter((e) => e.run === runId).sort((a, b) => a.at - b.at);
}

/** The worker id a worker process printed when it registered. */
function workerIdOf(w: WorkerProcess): string {
  const m = w.output().match(/worker ready (\S+)/);
  assert.ok(m, `no worker id in output:\n${w.output()}`);
  return m[1];
}

/** The COMPLETED function-step rows of a run, by step name (asserting one per name). */
function completedSteps(attempts: StepAttemptInfo[]): Map<string, StepAttemptInfo> {
  const done = new Map<string, StepAttemptInfo>();
  for (const a of attempts) {
    if (a.kind !== "function" || a.status !== "COMPLETED") continue;
    assert.ok(!done.has(`${a.name}#${a.occurrence}`), `step ${a.name} stored twice`);
    done.set(`${a.name}#${a.occurrence}`, a);
  }
  return done;
}

/**
 * Checks that no execution of a step started after its output was stored: a memoized step
 * is replayed from storage, never run again.
 */
function assertNoRunAfterStored(entries: Entry[], stored: Map<string, StepAttemptInfo>): void {
  for (const e of entries) {
    const row = stored.get(`${e.step}#1`);
    assert.ok(row, `step ${e.step} of ${e.run} ran but has no stored output`);
    assert.ok(row.finishedAt, `stored step ${e.step} has no finished_at`);
    assert.ok(
      e.at <= row.finishedAt.getTime() + slackMs,
      `step ${e.step} of ${e.run} ran at ${e.at} (pid ${e.pid}), after its output was stored at ${row.finishedAt.getTime()}`,
    );
  }
}

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

Deno.test(
  `a zombie worker cannot complete, fail or sleep a run whose lease was taken over (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: shortLeases });
    const client = await Kagzi.connect(server.url);
    const rpc = workerRpc(server.url);
    const namespace = "default";
    const json = (v: unknown) => ({
      data: new TextEncoder().encode(JSON.stringify(v)),
      metadata: { encoding: "json" },
    });
    const register = async () =>
      (await rpc.register({ namespace, workflowTypes: [{ workflowType: "zombie" }] })).workerId;
    const poll = async (workerId: string) => {
      const res = await rpc.pollTask({
        namespace,
        workerId,
        maxTasks: 1,
        timeout: { seconds: 10n },
      });
      assert.equal(res.tasks.length, 1, "the poll got the run");
      return res.tasks[0];
    };

    const z = await register();
    const run = await client.start("zombie").input({ n: 1 });
    const t1 = await poll(z);
    assert.equal(t1.runId, run.id);
    const f1 = t1.fence;
    // While Z holds the lease, its writes are accepted (so the requests below are well formed).
    await rpc.completeStep({
      namespace,
      workerId: z,
      lease: { runId: run.id, fence: f1 },
      step: { kind: StepKind.FUNCTION, name: "early", occurrence: 1 },
      output: json("from Z"),
    });

    // Z goes silent (no heartbeat); its lease expires and Y takes the run over.
    const y = await register();
    const t2 = await poll(y);
    assert.equal(t2.runId, run.id);
    const f2 = t2.fence;
    assert.ok(f2 > f1, `the fence grows with each claim: ${f1} then ${f2}`);
    assert.deepEqual(
      t2.steps.map((s) => s.step?.name),
      ["early"],
      "Y replays Z's step stored before the takeover",
    );

    const zombie = { namespace, workerId: z, lease: { runId: run.id, fence: f1 } };
    const later = timestampFromDate(new Date(Date.now() + 60_000));
    const refused = async (what: string, call: () => Promise<unknown>) => {
      await assert.rejects(call, (e: unknown) => {
        const err = ConnectError.from(e);
        assert.equal(err.code, Code.FailedPrecondition, `${what}: ${err.message}`);
        assert.match(err.message, /Lease lost/, what);
        return true;
      }, what);
    };
    await refused("complete step", () =>
      rpc.completeStep({
        ...zombie,
        step: { kind: StepKind.FUNCTION, name: "late", occurrence: 1 },
        output: json("zombie output"),
      }));
    await refused("fail step", () =>
      rpc.failStep({
        ...zombie,
        step: { kind: StepKind.FUNCTION, name: "late-fail", occurrence: 1 },
        error: { message: "zombie failure", name: "Error" },
      }));
    await refused("sleep", () =>
      rpc.sleep({
        ...zombie,
        sleeps: [{ step: { kind: StepKind.SLEEP, name: "nap", occurrence: 1 }, wakeUpAt: later }],
        resumeAt: later,
      }));
    await refused(
      "complete workflow",
      () => rpc.completeWorkflow({ ...zombie, output: json("zombie result") }),
    );
    await refused(
      "fail workflow",
      () => rpc.failWorkflow({ ...zombie, error: { message: "zombie failure", name: "Error" } }),
    );
    const beat = await rpc.heartbeat({ namespace, workerId: z, leases: [zombie.lease] });
    assert.deepEqual(beat.lostRunIds, [run.id], "Z's heartbeat learns its lease was lost");

    // Nothing changed: Y still holds the run, Z wrote no step.
    const w = await client.get(run.id);
    assert.equal(w.status, "RUNNING");
    assert.equal(w.workerId, y);
    assert.equal(w.output, undefined);
    assert.ok(w.attempts >= 2, `lease recovery counts an attempt: ${w.attempts}`);
    const steps = await client.listSteps(run.id);
    assert.deepEqual(steps.map((s) => [s.name, s.status, s.workerId]), [["early", "COMPLETED", z]]);
    if (backend === "postgres") {
      const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const [r] = await sql`
          select status, worker_id, fence::text, wake_up_at, error from kagzi_runs
          where run_id = ${run.id}`;
        assert.deepEqual(
          { ...r },
          { status: "RUNNING", worker_id: y, fence: String(f2), wake_up_at: null, error: null },
        );
        const [s] = await sql`select count(*)::int as n from kagzi_steps where run_id = ${run.id}`;
        assert.equal(s.n, 1);
        const [p] = await sql`
          select count(*)::int as n from kagzi_payloads where run_id = ${run.id} and kind = 'output'`;
        assert.equal(p.n, 0);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }

    // Y, the owner, can write: its lease is alive and its completion wins.
    const yBeat = await rpc.heartbeat({
      namespace,
      workerId: y,
      leases: [{ runId: run.id, fence: f2 }],
    });
    assert.deepEqual(yBeat.lostRunIds, []);
    const yLease = { namespace, workerId: y, lease: { runId: run.id, fence: f2 } };
    await rpc.completeStep({
      ...yLease,
      step: { kind: StepKind.FUNCTION, name: "late", occurrence: 1 },
      output: json("from Y"),
    });
    await rpc.completeWorkflow({ ...yLease, output: json({ by: "Y" }) });
    const done = await client.get(run.id);
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.output, { by: "Y" });
    assert.deepEqual(
      (await client.listSteps(run.id)).map((s) => [s.name, s.output, s.workerId]).sort(),
      [["early", "from Z", z], ["late", "from Y", y]],
    );
    // A zombie write after the end changes nothing either.
    await refused(
      "complete workflow after the end",
      () => rpc.completeWorkflow({ ...zombie, output: json("zombie result") }),
    );
    assert.deepEqual((await client.get(run.id)).output, { by: "Y" });
    await rpc.deregister({ namespace, workerId: z });
    await rpc.deregister({ namespace, workerId: y });
  },
);

/**
 * An HTTP proxy in front of a server that answers `503 unavailable` (as a load balancer does
 * while a replica restarts) to the RPCs `blocked(method)` names, and forwards the rest.
 */
function startProxy(
  target: string,
  blocked: (method: string) => boolean,
): { url: string; refused: string[] } & AsyncDisposable {
  const refused: string[] = [];
  const gone = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const method = url.pathname.split("/").pop() ?? "";
    if (blocked(method)) {
      refused.push(method);
      await req.body?.cancel();
      return Response.json({ code: "unavailable", message: "proxy: upstream restarting" }, {
        status: 503,
      });
    }
    const headers = new Headers(req.headers);
    for (const h of ["host", "accept-encoding", "content-length"]) headers.delete(h);
    try {
      const res = await fetch(new URL(url.pathname, target), {
        method: req.method,
        headers,
        body: req.body ? await req.arrayBuffer() : undefined,
        signal: gone.signal,
      });
      const body = await res.arrayBuffer();
      const out = new Headers(res.headers);
      for (const h of ["content-encoding", "content-length", "transfer-encoding"]) out.delete(h);
      return new Response(body, { status: res.status, headers: out });
    } catch {
      return Response.json({ code: "unavailable", message: "proxy: upstream unreachable" }, {
        status: 503,
      });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    refused,
    async [Symbol.asyncDispose]() {
      gone.abort();
      await server.shutdown();
    },
  };
}

Deno.test(
  `a worker that cannot deliver a step's output for longer than its retry window does not fail the run (${backend})`,
  async () => {
    // The worker reaches the server through a proxy that refuses CompleteStep (503) for a
    // while but lets heartbeats through, so the worker keeps its lease throughout. A step
    // output that cannot be delivered is the worker's problem, not the workflow's: the run
    // must still complete (the step may run again), never end FAILED with a transport error.
    await using server = await startTestServer(backend, { args: shortLeases });
    await using journal = await tempJournal();
    let blockUntil = 0;
    await using proxy = startProxy(
      server.url,
      (m) => m === "CompleteStep" && Date.now() < blockUntil,
    );
    const client = await Kagzi.connect(server.url);
    await using worker = await startWorker(proxy.url, {
      types: ["three-steps"],
      journal: journal.path,
    });
    const stepMs = 1_000;
    const run = await client.start("three-steps").input({ stepMs });
    await waitFor("step two to start", () => entriesOf(journal.path, run.id).length >= 2);
    // Refuse step two's CompleteStep from its end until well past the SDK's retry window.
    blockUntil = Date.now() + stepMs + leaseMs + 1_500;
    const output = await run.result({ timeout: "30s" }).catch(async (err) => {
      const steps = await client.listSteps(run.id).catch(() => []);
      throw new Error(
        `run ${run.id} did not complete: ${err}\n` +
          `refused: ${proxy.refused.join(", ")}\n` +
          `journal: ${JSON.stringify(entriesOf(journal.path, run.id))}\n` +
          `steps: ${JSON.stringify(steps.map((s) => [s.name, s.status, s.attempt]))}`,
      );
    });
    assert.deepEqual(output, { out: [1, 2, 3], runId: run.id });
    assert.ok(proxy.refused.length >= 2, `CompleteStep was refused ${proxy.refused.length} times`);
    const entries = entriesOf(journal.path, run.id);
    const count = (step: string) => entries.filter((e) => e.step === step).length;
    assert.equal(count("one"), 1);
    assert.ok(count("two") >= 1 && count("two") <= 2, `two ran ${count("two")} times`);
    assert.equal(count("three"), 1);
    assert.ok(entries.every((e) => e.pid === worker.pid));
    assertNoRunAfterStored(entries, completedSteps(await client.listSteps(run.id)));
  },
);
