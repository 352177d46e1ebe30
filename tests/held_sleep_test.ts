/**
 * Short sleeps kept on the worker (`Worker.builder().holdSleeps()`, SleepRequest.hold): the sleep
 * is recorded, the run stays RUNNING with its worker, and the server answers the Sleep when the
 * run is due and still held, so the execution goes on without a suspension, a claim or a replay.
 * A cancel or a pause meanwhile stops it before its next step; a worker killed meanwhile leaves
 * the run sleeping on the server, resumed on time elsewhere. Real server processes, both backends.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Context, Kagzi, Retry, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { metricSum } from "./_metrics.ts";
import { rawWorker, stepOutput, workerRpc } from "./_raw.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

const ran: Record<string, number> = {};

async function nap(ctx: Context, ms: number) {
  const a = await ctx.step("a").run(() => (ran.a = (ran.a ?? 0) + 1, 1));
  await ctx.sleep("nap", ms);
  return await ctx.step("b").run(() => (ran.b = (ran.b ?? 0) + 1, a + 1));
}

/** Two sleeps at once, ending at different times. */
async function pair(ctx: Context) {
  const woke: string[] = [];
  await Promise.all([
    ctx.sleep("short", 200).then(() => woke.push("short")),
    ctx.sleep("long", 500).then(() => woke.push("long")),
  ]);
  return woke;
}

/** A step that fails its first attempt; the retry is due 300 ms later. */
async function flaky(ctx: Context) {
  return await ctx.step("charge").retry(Retry.linear(3, "300ms")).run(() => {
    ran.charge = (ran.charge ?? 0) + 1;
    if (ran.charge === 1) throw new Error("declined");
    return "charged";
  });
}

for (const backend of await backends()) {
  Deno.test(`a short sleep keeps its run on the worker (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const napRecorded = async (runId: string) =>
      (await client.handle(runId).steps()).some((s) => s.kind === "sleep" && s.name === "nap");
    const withWorker = async (
      hold: string | undefined,
      body: (w: Worker) => Promise<void>,
    ) => {
      for (const k of Object.keys(ran)) delete ran[k];
      const b = Worker.builder(server.url).logger(false).workflows({ nap, flaky, pair });
      const worker = await (hold === undefined ? b : b.holdSleeps(hold)).build();
      const loop = worker.run();
      try {
        await body(worker);
      } finally {
        await worker.shutdown();
        await loop;
      }
    };

    const heldCount = (outcome: string) =>
      metricSum(server.url, "kagzi_waits_held_total", { outcome });

    await t.step("held (the default, 1 s): recorded, then gone on from, no replay", async () => {
      await withWorker(undefined, async (worker) => {
        const resumed = await heldCount("resumed");
        const run = await client.start("nap").input(300);
        assert.equal(await run.result(), 2);
        assert.deepEqual(ran, { a: 1, b: 1 });
        await waitFor("the execution counted", () => worker.stats.completed === 1);
        assert.equal(worker.stats.suspended, 0, "never suspended");
        assert.equal(worker.stats.rpcs.sleep, 1);
        assert.equal(await heldCount("resumed") - resumed, 1, "counted in kagzi_waits_held_total");
        const steps = await client.handle(run.id).steps();
        const napStep = steps.find((s) => s.kind === "sleep")!;
        const b = steps.find((s) => s.name === "b")!;
        assert.equal(napStep.name, "nap");
        const wakeUpAt = napStep.wakeUpAt!.getTime();
        assert.ok(
          b.startedAt!.getTime() >= wakeUpAt,
          `b started at ${b.startedAt!.toISOString()}, before the sleep's end ${napStep.wakeUpAt}`,
        );
      });
    });

    await t.step("two sleeps at once: each woken at its time, one execution", async () => {
      await withWorker(undefined, async (worker) => {
        const resumed = await heldCount("resumed");
        const run = await client.start("pair");
        assert.deepEqual(await run.result(), ["short", "long"]);
        await waitFor("the execution counted", () => worker.stats.completed === 1);
        assert.equal(worker.stats.suspended, 0, "never suspended");
        assert.equal(worker.stats.rpcs.sleep, 2, "both sleeps recorded by the first");
        assert.equal(await heldCount("resumed") - resumed, 2);
        const sleeps = (await run.steps()).filter((s) => s.kind === "sleep");
        assert.deepEqual(sleeps.map((s) => s.name).sort(), ["long", "short"]);
      });
    });

    await t.step("a step's retry due soon runs in the same execution", async () => {
      await withWorker(undefined, async (worker) => {
        const run = await client.start("flaky");
        assert.equal(await run.result(), "charged");
        await waitFor("the execution counted", () => worker.stats.completed === 1);
        assert.equal(worker.stats.suspended, 0, "never suspended");
        const [first, second] = (await client.handle(run.id).steps())
          .filter((s) => s.name === "charge").sort((a, b) => a.attempt - b.attempt);
        assert.deepEqual([first.status, second.status], ["FAILED", "COMPLETED"]);
        assert.ok(
          second.startedAt!.getTime() >= first.retryAt!.getTime(),
          `attempt 2 started at ${second.startedAt!.toISOString()}, before ${first.retryAt}`,
        );
      });
    });

    await t.step("longer than holdSleeps: suspended and replayed, as before", async () => {
      await withWorker("100ms", async (worker) => {
        assert.equal(await (await client.start("nap").input(300)).result(), 2);
        assert.deepEqual(ran, { a: 1, b: 1 }, "the replay found a's output");
        assert.equal(worker.stats.suspended, 1);
      });
    });

    await t.step("cancelled while held: the step after never runs", async () => {
      await withWorker("3s", async (worker) => {
        const run = await client.start("nap").input(1_500);
        await waitFor("the sleep recorded", () => napRecorded(run.id));
        assert.equal((await run.get()).status, "RUNNING", "held, not suspended");
        await run.cancel();
        await assert.rejects(run.result(), (e: Error) => /cancel/i.test(e.message));
        await waitFor("the held execution let go", () => worker.stats.abandoned === 1);
        assert.deepEqual(ran, { a: 1 }, "b never ran");
        assert.ok(await heldCount("lost") >= 1, "counted as lost");
      });
    });

    await t.step("paused while held, then resumed: goes on once, from its history", async () => {
      await withWorker("3s", async (worker) => {
        const run = await client.start("nap").input(1_000);
        await waitFor("the sleep recorded", () => napRecorded(run.id));
        await client.pause(run.id);
        await waitFor("the held execution let go", () => worker.stats.abandoned === 1);
        assert.equal((await run.get()).status, "PAUSED");
        assert.deepEqual(ran, { a: 1 }, "b did not run while paused");
        await client.resume(run.id);
        assert.equal(await run.result(), 2);
        assert.deepEqual(ran, { a: 1, b: 1 });
      });
    });

    await t.step("over the raw wire: hold needs resume_at; past 5 s it suspends", async () => {
      const rpc = workerRpc(server.url);
      const { workerId, claim } = await rawWorker(rpc, client, "raw-hold");
      const at = (ms: number) => timestampFromDate(new Date(Date.now() + ms));
      const step = (occurrence: number, ms: number) => ({
        step: { kind: 2, name: "nap", occurrence },
        wakeUpAt: at(ms),
      });
      const held = await claim();
      await assert.rejects(
        rpc.sleep({ workerId, lease: held.lease, sleeps: [step(1, 200)], hold: true }),
        (e: ConnectError) => e.code === Code.InvalidArgument && /"resume_at"/.test(e.rawMessage),
      );
      assert.equal(await napRecorded(held.run.id), false, "nothing stored");
      const asked = Date.now();
      const res = await rpc.sleep({
        workerId,
        lease: held.lease,
        sleeps: [step(1, 200)],
        resumeAt: at(200),
        hold: true,
      });
      assert.equal(res.held, true);
      assert.ok(Date.now() - asked >= 150, "answered when the run was due");
      assert.equal((await held.run.get()).status, "RUNNING");
      assert.equal(await napRecorded(held.run.id), true);
      await held.run.cancel();

      // Nothing new to record (a retry's wait): not stored, only answered; a cancelled run's
      // lease is lost all the same.
      const again = await claim();
      const answered = await rpc.sleep({
        workerId,
        lease: again.lease,
        resumeAt: at(100),
        hold: true,
      });
      assert.equal(answered.held, true);
      assert.equal((await again.run.get()).status, "RUNNING");
      await again.run.cancel();
      await assert.rejects(
        rpc.sleep({ workerId, lease: again.lease, resumeAt: at(100), hold: true }),
        (e: ConnectError) => e.code === Code.FailedPrecondition && /lease/i.test(e.rawMessage),
      );

      // A hold sent again (its server died while holding it) carries an output it stored:
      // held again. Another output of that step stored before is refused as for a lost lease.
      const carry = (lease: typeof held.lease, outputs: ReturnType<typeof stepOutput>[]) =>
        rpc.sleep({
          workerId,
          lease,
          sleeps: [step(1, 100)],
          resumeAt: at(100),
          hold: true,
          steps: outputs as never,
        });
      const twice = await claim();
      assert.equal((await carry(twice.lease, [stepOutput("y", 1)])).held, true);
      assert.equal(
        (await carry(twice.lease, [stepOutput("y", 1)])).held,
        true,
        "the same output again: held",
      );
      await assert.rejects(
        carry(twice.lease, [stepOutput("y", 9)]),
        (e: ConnectError) => e.code === Code.FailedPrecondition && /lease/i.test(e.rawMessage),
      );
      await twice.run.cancel();

      // Two outputs carried (stored in a transaction): the same two again are held again; a
      // changed one is refused.
      const pair = await claim();
      const carryTwo = (v: number) => carry(pair.lease, [stepOutput("y", 1), stepOutput("z", v)]);
      assert.equal((await carryTwo(2)).held, true);
      assert.equal((await carryTwo(2)).held, true, "the same two outputs again: held");
      await assert.rejects(
        carryTwo(3),
        (e: ConnectError) => e.code === Code.FailedPrecondition && /lease/i.test(e.rawMessage),
      );
      await pair.run.cancel();

      const far = await claim();
      const later = await rpc.sleep({
        workerId,
        lease: far.lease,
        sleeps: [step(1, 3_600_000)],
        resumeAt: at(3_600_000),
        hold: true,
      });
      assert.equal(later.held, false);
      assert.equal((await far.run.get()).status, "SLEEPING");
      await far.run.cancel();

      // The caller hangs up while held: the run is suspended until its sleep's end, as without
      // hold, for any worker to resume then (not left RUNNING until its lease expires).
      const cut = await claim();
      const hangUp = new AbortController();
      const call = rpc.sleep(
        { workerId, lease: cut.lease, sleeps: [step(1, 3_000)], resumeAt: at(3_000), hold: true },
        { signal: hangUp.signal },
      );
      await waitFor("the sleep recorded", () => napRecorded(cut.run.id));
      hangUp.abort();
      await assert.rejects(call);
      await waitFor("the run suspended", async () => (await cut.run.get()).status === "SLEEPING");
      assert.equal(await heldCount("hung_up"), 1);
      await cut.run.cancel();
    });
  });
}

Deno.test("a worker killed during a held sleep: the run is let go at once, resumed after its sleep", async () => {
  const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
  await using server = await startTestServer(backend);
  await using journal = await tempJournal();
  const client = await Kagzi.connect(server.url);
  const victim = await startWorker(server.url, {
    types: ["napper"],
    journal: journal.path,
    holdSleeps: "5s",
  });
  const run = await client.start("napper").input({ ms: 4_000 });
  await waitFor(
    "the sleep recorded",
    async () => (await run.steps()).some((s) => s.kind === "sleep"),
  );
  assert.equal((await run.get()).status, "RUNNING", "held by the victim");
  victim.kill("SIGKILL");
  await victim.status;
  // The server heard the victim hang up (its poll, its held Sleep) and let the run go at once,
  // rather than leaving it RUNNING until its lease expires.
  await waitFor("the run let go", async () => (await run.get()).status !== "RUNNING", 3_000);
  await using _other = await startWorker(server.url, { types: ["napper"], journal: journal.path });
  assert.equal(await run.result(), 2);
  const journaled = readJournal(journal.path).filter((e) => e.run === run.id);
  assert.deepEqual(journaled.map((e) => e.step).sort(), ["a", "b"], "each step ran once");
  const wakeUpAt = (await run.steps()).find((s) => s.kind === "sleep")!.wakeUpAt!.getTime();
  const b = journaled.find((e) => e.step === "b")!;
  assert.ok(b.at >= wakeUpAt, `b ran at ${b.at}, before the sleep's end ${wakeUpAt}`);
});

Deno.test({
  name:
    "the database drops every connection during a held sleep: the run still completes, each step once",
  ignore: !(await backends()).includes("postgres"),
  async fn() {
    await using server = await startTestServer("postgres", { args: leaseFlags(2_000) });
    const client = await Kagzi.connect(server.url);
    for (const k of Object.keys(ran)) delete ran[k];
    const worker = await Worker.builder(server.url).logger(false).holdSleeps("3s")
      .workflows({ nap }).build();
    const loop = worker.run();
    const admin = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const run = await client.start("nap").input(1_500);
      await waitFor(
        "the sleep recorded",
        async () => (await run.steps()).some((s) => s.kind === "sleep"),
      );
      // Every server connection cut while the Sleep is held open, twice.
      for (let i = 0; i < 2; i++) {
        await admin`select pg_terminate_backend(pid) from pg_stat_activity
                    where datname = current_database() and pid <> pg_backend_pid()`;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(
        await run.result({ timeout: "30s" }),
        2,
        "a fault is not the workflow's failure",
      );
      assert.deepEqual(ran, { a: 1, b: 1 }, "each step ran once");
      console.log(`held through the cut: ${JSON.stringify(worker.stats)}`);
    } finally {
      await admin.end();
      await worker.shutdown();
      await loop;
    }
  },
});

Deno.test("the server killed (-9) during a held sleep and restarted: the same execution goes on, each step once", async () => {
  const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
  await using server = await startTestServer(backend, { args: leaseFlags(10_000) });
  const client = await Kagzi.connect(server.url);
  for (const k of Object.keys(ran)) delete ran[k];
  const worker = await Worker.builder(server.url).logger(false).holdSleeps("3s")
    .workflows({ nap }).build();
  const loop = worker.run();
  try {
    const run = await client.start("nap").input(1_500);
    await waitFor(
      "the sleep recorded",
      async () => (await run.steps()).some((s) => s.kind === "sleep"),
    );
    server.kill("SIGKILL");
    await server.status;
    const again = await server.restart({
      port: server.port,
      grpcPort: server.grpcPort,
      // A lease longer than the restart, so the run is still the worker's when it is back.
      args: leaseFlags(10_000),
    });
    try {
      assert.equal(
        await run.result({ timeout: "60s" }),
        2,
        "a crash is not the workflow's failure",
      );
      assert.deepEqual(ran, { a: 1, b: 1 }, "each step ran once");
      // The Sleep sent again to the restarted server (its carried output stored by the first)
      // holds the run again: the execution goes on, nothing waits for the lease to expire.
      assert.equal(worker.stats.abandoned, 0, JSON.stringify(worker.stats));
      assert.equal(worker.stats.suspended, 0);
    } finally {
      // The worker first: it deregisters from the restarted server.
      await worker.shutdown();
      await loop;
      await again[Symbol.asyncDispose]();
    }
  } finally {
    await worker.shutdown(); // at once when it already stopped
    await loop;
  }
});
