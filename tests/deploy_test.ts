/**
 * Deno Deploy, simulated on this machine (see `_deploy.ts`): two instances with
 * `DENO_DEPLOY=true` on one Postgres, no background timers, the engine driven by the requests
 * being served and by the `Deno.cron` job; a worker polls one instance, the client uses the
 * other; instances are stopped the way the platform stops them and replaced on the same URL.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { postgresIgnored } from "./_db.ts";
import { type Instance, runRow, startCluster, stopLikeDeploy } from "./_deploy.ts";
import { inFlight } from "./_metrics.ts";
import { readJournal, startWorker, tempJournal, waitFor, type WorkerProcess } from "./_worker.ts";

const ignore = await postgresIgnored();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How late a due run may start while a worker polls: about one maintenance interval (1 s). */
const onTimeMs = 1_500;

/** A run's journal entries (real step executions), oldest first. */
const entriesOf = (journal: string, runId: string) =>
  readJournal(journal).filter((e) => e.run === runId).sort((a, b) => a.at - b.at);

/** Stops a worker with SIGTERM and returns what it printed, asserting it reported no failure. */
async function stopWorker(w: WorkerProcess): Promise<string> {
  w.kill("SIGTERM");
  await w.status;
  const out = w.output();
  // An instance restart is an outage the worker rides out and reports (WARN "lost the server",
  // INFO "reached the server again", issue 24); anything else naming an error is a failure.
  const rest = out.split("\n").filter((l) =>
    !/ WARN lost the server | INFO reached the server /.test(l)
  );
  assert.doesNotMatch(
    rest.join("\n"),
    /error|exception|uncaught/i,
    `the worker printed an error:\n${out}`,
  );
  assert.doesNotMatch(out, / ERROR /, `the worker logged an error:\n${out}`);
  const stats = JSON.parse(out.match(/worker stopped (.*)/)![1]);
  assert.equal(stats.failed, 0, out);
  assert.equal(stats.abandoned, 0, `no execution lost contact with the server: ${out}`);
  return out;
}

Deno.test({
  name: "Deploy mode, engine driven by requests: a 2 s sleep wakes on time, a failed step " +
    "retries on schedule, a worker killed with kill -9 is recovered (postgres)",
  ignore,
  async fn(t) {
    await using cluster = await startCluster({
      args: ["--lease-ms", "3000", "--heartbeat-interval-ms", "500"],
    });
    assert.match(cluster.migrateOutput, /kagzi migrate: applied 1, 2/);
    for (const i of [cluster.a, cluster.b]) {
      assert.match(i.output(), /native gRPC is off in serverless mode/);
      assert.match(i.output(), /serverless: requests drive the engine/);
    }
    await using journal = await tempJournal();
    const worker = await startWorker(cluster.a.url, { journal: journal.path });
    const client = await Kagzi.connect(cluster.b.url);

    await t.step("a 2 s sleep wakes on time while the worker polls", async () => {
      const run = await client.start("sleeper").input({ ms: 2_000 });
      const wokeAt = await run.result({ timeout: "20s" }) as number;
      const [sleepStep] = (await client.listSteps(run.id)).filter((s) => s.kind === "sleep");
      const late = wokeAt - sleepStep.wakeUpAt!.getTime();
      assert.ok(late >= 0 && late < onTimeMs, `woke ${late} ms after the sleep's end`);
      console.log(`sleep: woke ${late} ms after it was due`);
    });

    await t.step("a failed step is retried on schedule", async () => {
      const run = await client.start("flaky").input({ failures: 2, attempts: 5, initialMs: 1_000 });
      assert.equal(await run.result({ timeout: "20s" }), 3);
      const starts = entriesOf(journal.path, run.id).map((e) => e.at);
      const failed = (await client.listSteps(run.id)).filter((s) => s.status === "FAILED");
      assert.equal(starts.length, 3);
      assert.equal(failed.length, 2);
      for (const [k, attempt] of failed.entries()) {
        const late = starts[k + 1] - attempt.retryAt!.getTime();
        assert.ok(late >= -5 && late < onTimeMs, `retry ${k + 1} started ${late} ms after due`);
        console.log(`retry ${k + 1}: started ${late} ms after it was due`);
      }
    });

    await t.step("a worker killed with kill -9 mid-run: the run is recovered", async () => {
      const run = await client.start("three-steps").input({ stepMs: 1_000 });
      await waitFor("step two to start", () => entriesOf(journal.path, run.id).length >= 2);
      worker.kill("SIGKILL");
      const killedAt = Date.now();
      await worker.status;
      // Another worker, on the other instance: the lease expires (3 s) and a maintenance pass
      // run inside its poll puts the run back.
      const second = await startWorker(cluster.b.url, { journal: journal.path });
      assert.deepEqual(await run.result({ timeout: "30s" }), { out: [1, 2, 3], runId: run.id });
      const entries = entriesOf(journal.path, run.id);
      assert.deepEqual(entries.map((e) => [e.step, e.pid]), [
        ["one", worker.pid],
        ["two", worker.pid],
        ["two", second.pid],
        ["three", second.pid],
      ]);
      console.log(`kill -9: run taken over ${entries[2].at - killedAt} ms after the kill`);
      assert.equal((await client.get(run.id)).attempts, 2);

      // No background timer either: with no request in flight, a due sleeper stays asleep
      // until a request arrives (or the Deno.cron job, absent here) runs a maintenance pass.
      // (Longer than the worker's holdSleeps, 1 s: the run suspends rather than stay held.)
      const sleeper = await client.start("sleeper").input({ ms: 1_500 });
      await waitFor(
        "the sleeper to sleep",
        async () => (await runRow(cluster.sql, sleeper.id)).status === "SLEEPING",
      );
      second.kill("SIGKILL");
      await second.status;
      await sleep(3_000);
      assert.equal((await runRow(cluster.sql, sleeper.id)).status, "SLEEPING");
      await client.get(sleeper.id);
      assert.equal((await runRow(cluster.sql, sleeper.id)).status, "PENDING");
    });
  },
});

Deno.test({
  name: "Deploy mode: a run started on one instance reaches a worker polling the other through " +
    "NOTIFY, with no maintenance pass to find it (postgres)",
  ignore,
  async fn() {
    // One maintenance pass per instance a minute and polls of 60 s: after the first passes, only
    // LISTEN/NOTIFY can bring a run started on b to the poll open on a within the next minute.
    await using cluster = await startCluster({
      args: ["--tick-interval-ms", "60000", "--poll-timeout-ms", "60000"],
    });
    await using journal = await tempJournal();
    const worker = await startWorker(cluster.a.url, { journal: journal.path });
    const client = await Kagzi.connect(cluster.b.url);
    for (let i = 0; i < 3; i++) {
      await waitFor("a long poll on a", async () => await inFlight(cluster.a.url, "PollTask") > 0);
      const t0 = Date.now();
      const run = await client.start("three-steps").input({ stepMs: 0 });
      await waitFor("step one", () => entriesOf(journal.path, run.id).length > 0, 20_000);
      console.log(`NOTIFY: picked up ${entriesOf(journal.path, run.id)[0].at - t0} ms after start`);
      assert.deepEqual(await run.result({ timeout: "30s" }), { out: [1, 2, 3], runId: run.id });
    }
    await stopWorker(worker);
  },
});

Deno.test({
  name: "Deploy mode: an instance stopped with SIGINT (SIGKILL 5 s later) mid-run loses " +
    "nothing; polls and result waits cut by instance restarts resume without an error (postgres)",
  ignore,
  async fn(t) {
    await using cluster = await startCluster({ args: ["--lease-ms", "10000"] });
    await using journal = await tempJournal();
    const worker = await startWorker(cluster.a.url, { journal: journal.path });
    const client = await Kagzi.connect(cluster.b.url);
    let a: Instance = cluster.a;
    let b: Instance = cluster.b;

    await t.step("SIGINT mid-run, then a new instance: every step ran once", async () => {
      const run = await client.start("three-steps").input({ stepMs: 2_500 });
      await waitFor("step one to start", () => entriesOf(journal.path, run.id).length >= 1);
      const stopped = await stopLikeDeploy(a);
      assert.equal(stopped.status.code, 0, `exit status ${JSON.stringify(stopped.status)}`);
      // Open polls are answered at once, so the instance stops well within the grace period.
      assert.ok(stopped.ms < 3_000, `the instance took ${stopped.ms} ms to stop`);
      console.log(`SIGINT: the instance drained and exited in ${stopped.ms} ms`);
      a = await cluster.replace(a);
      assert.deepEqual(await run.result({ timeout: "30s" }), { out: [1, 2, 3], runId: run.id });
      assert.deepEqual(entriesOf(journal.path, run.id).map((e) => e.step), ["one", "two", "three"]);
    });

    await t.step("a poll cut by kill -9 of its instance resumes on the new one", async () => {
      await waitFor(
        "the worker's long poll on a",
        async () => await inFlight(a.url, "PollTask") > 0,
      );
      a.kill("SIGKILL");
      await a.status;
      a = await cluster.replace(a);
      const run = await client.start("type-a");
      assert.equal(await run.result({ timeout: "20s" }), "A");
    });

    await t.step(
      "a result wait cut by kill -9 of its instance resumes on the new one",
      async () => {
        const run = await client.start("sleeper").input({ ms: 3_000 });
        const result = run.result({ timeout: "30s" });
        await waitFor("the result wait on b", async () => await inFlight(b.url, "WaitRuns") > 0);
        b.kill("SIGKILL");
        await b.status;
        b = await cluster.replace(b);
        assert.equal(typeof await result, "number");
      },
    );

    await t.step(
      "a result wait answered by a draining instance resumes on the new one",
      async () => {
        const run = await client.start("sleeper").input({ ms: 3_000 });
        const result = run.result({ timeout: "30s" });
        await waitFor("the result wait on b", async () => await inFlight(b.url, "WaitRuns") > 0);
        assert.equal((await stopLikeDeploy(b)).status.code, 0);
        b = await cluster.replace(b);
        assert.equal(typeof await result, "number");
      },
    );

    await t.step("the worker saw no error", async () => {
      await stopWorker(worker);
    });
  },
});

Deno.test({
  name: "Deploy mode, engine driven by the Deno.cron job alone: with no traffic, a cron " +
    "schedule fires once per time across both instances, sleepers wake, leases are recovered (postgres)",
  ignore,
  async fn() {
    await using cluster = await startCluster({
      cronEveryMs: 1_000,
      args: ["--lease-ms", "2000", "--heartbeat-interval-ms", "500"],
    });
    for (const i of [cluster.a, cluster.b]) {
      assert.match(i.output(), /the kagzi-maintenance Deno\.cron job and requests drive/);
    }
    const { sql } = cluster;
    await using journal = await tempJournal();
    const client = await Kagzi.connect(cluster.b.url);

    // A sleeping run and a run whose worker dies, then no worker and no request at all.
    const worker = await startWorker(cluster.a.url, { journal: journal.path });
    const sleeping = await client.start("sleeper").input({ ms: 1_500 });
    const held = await client.start("three-steps").input({ stepMs: 60_000 });
    await waitFor(
      "the sleeper to sleep",
      async () => (await runRow(sql, sleeping.id)).status === "SLEEPING",
    );
    await waitFor("step one to start", () => entriesOf(journal.path, held.id).length === 1);
    await client.schedule("every-second").workflow("type-a").cron("* * * * * *");
    worker.kill("SIGKILL");
    await worker.status;
    const quietFrom = Date.now();

    // Read straight from the database (no request to an instance): only the cron job acts.
    const fired = async () =>
      (await sql`
        select workflow_id, count(*)::int as n from kagzi_runs where schedule_id = 'every-second'
        group by workflow_id order by workflow_id`) as unknown as {
        workflow_id: string;
        n: number;
      }[];
    await waitFor(
      "the cron job alone to wake, recover and fire",
      async () =>
        (await runRow(sql, sleeping.id)).status === "PENDING" &&
        (await runRow(sql, held.id)).status === "PENDING" &&
        (await fired()).length >= 4,
      30_000,
    );
    const quietMs = Date.now() - quietFrom;
    assert.deepEqual(await runRow(sql, sleeping.id), { status: "PENDING", attempt: 1 });
    assert.deepEqual(await runRow(sql, held.id), { status: "PENDING", attempt: 2 });
    const fires = await fired();
    const times = fires.map((f) => Date.parse(f.workflow_id.slice("every-second@".length)));
    assert.ok(fires.every((f) => f.n === 1), "each fire time started one run");
    for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 1_000, "no gap");
    assert.ok(times.length >= quietMs / 1_000 - 2, `${times.length} fires in ${quietMs} ms`);
    console.log(`cron job alone: ${times.length} fires in ${quietMs} ms, each once`);

    // A worker again: everything finishes.
    await client.updateSchedule("every-second", { enabled: false });
    const again = await startWorker(cluster.a.url, { journal: journal.path });
    assert.equal(typeof await sleeping.result({ timeout: "20s" }), "number");
    await waitFor("the held run to run again", () => entriesOf(journal.path, held.id).length === 2);
    again.kill("SIGKILL");
    await again.status;
  },
});
