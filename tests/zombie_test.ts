/**
 * Zombie workers: a worker process frozen with SIGSTOP for longer than its lease, whose runs
 * another worker takes over and finishes, must not start a step of those runs when it wakes
 * up (SIGCONT) — neither between two steps of a run it was executing, nor for a run its
 * PollTask answer handed it while it slept. Its late writes are refused anyway (fencing); what
 * this pins down is the side effects: no step begins after its output was stored.
 */
import assert from "node:assert/strict";
import { Kagzi, type StepAttemptInfo } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import type { TestProcess } from "./_process.ts";
import { leaseFlags, tempJournal, waitFor } from "./_worker.ts";
import { type JournalEntry, readEntries, startZombieWorker, workerIdOf } from "./_zombie.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const leaseMs = 2_000;
/** Clock slack between the worker processes and the database (same machine). */
const slackMs = 5;
/** The worker's stats, asked for with SIGUSR1 (tests/_zombie_worker.ts prints them). */
async function statsOf(w: TestProcess): Promise<{ abandoned: number; completed: number }> {
  const before = w.output().length;
  w.kill("SIGUSR1");
  let line: string | undefined;
  await waitFor("the worker to print its stats", () => {
    line = w.output().slice(before).match(/^stats (.*)$/m)?.[1];
    return line !== undefined;
  }, 10_000);
  return JSON.parse(line!);
}

/**
 * Waits until the frozen worker has dropped each of its executions of the run: one per claim,
 * as each of its claims was recovered (`attempts - 1`, the last claim being the other
 * worker's). A poll it left waiting when it froze may claim the run again after a recovery.
 */
async function waitForAbandoned(w: TestProcess, claims: number): Promise<void> {
  let last: unknown;
  await waitFor(`the frozen worker to abandon ${claims} execution(s)`, async () => {
    last = await statsOf(w);
    return (last as { abandoned: number }).abandoned === claims;
  }).catch((err) => {
    throw new Error(`${err.message}; its stats: ${JSON.stringify(last)}`);
  });
}

/** The stored (COMPLETED) function steps of a run by name. */
function storedSteps(attempts: StepAttemptInfo[]): Map<string, StepAttemptInfo> {
  const done = new Map<string, StepAttemptInfo>();
  for (const a of attempts) {
    if (a.kind !== "function" || a.status !== "COMPLETED") continue;
    assert.ok(!done.has(a.name), `step ${a.name} stored twice`);
    done.set(a.name, a);
  }
  return done;
}

/** Asserts that no journaled step of the run began after its output was stored. */
function assertNoStepAfterStored(
  entries: JournalEntry[],
  stored: Map<string, StepAttemptInfo>,
  who: Map<number, string>,
): void {
  for (const e of entries.filter((e) => e.kind === "step")) {
    const row = stored.get(e.step);
    assert.ok(row?.finishedAt, `step ${e.step} ran but has no stored output`);
    assert.ok(
      e.at <= row.finishedAt.getTime() + slackMs,
      `step ${e.step} began at ${e.at} on ${who.get(e.pid) ?? e.pid}, ${
        e.at - row.finishedAt.getTime()
      } ms after its output was stored by another worker`,
    );
  }
}

Deno.test(
  `a worker frozen between two steps past its lease starts no step of the run after another worker finished it (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(leaseMs) });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    await using a = await startZombieWorker(server.url, journal.path);
    const run = await client.start("pause").input({ pauseMs: 4_000 });
    // A stored step one and now waits in the workflow body (not a durable sleep): freeze it.
    await waitFor("step one to be stored", async () => {
      return storedSteps(await client.listSteps(run.id)).has("one");
    });
    a.kill("SIGSTOP");
    const frozenAt = Date.now();
    try {
      await using b = await startZombieWorker(server.url, journal.path);
      const who = new Map([[a.pid, "the frozen worker A"], [b.pid, "worker B"]]);
      const output = await run.result({ timeout: "30s" }) as { parts: string[] };
      const frozenMs = Date.now() - frozenAt;
      assert.ok(frozenMs > leaseMs, `A was frozen ${frozenMs} ms, longer than its lease`);
      a.kill("SIGCONT");
      // A wakes up: its pause ends and it reaches step two of a run B has finished.
      await waitFor(
        "A to resume the workflow body",
        () => readEntries(journal.path).some((e) => e.kind === "marker" && e.pid === a.pid),
      );
      await waitForAbandoned(a, (await client.get(run.id)).attempts - 1);

      const entries = readEntries(journal.path).filter((e) => e.run === run.id);
      const stored = storedSteps(await client.listSteps(run.id));
      assertNoStepAfterStored(entries, stored, who);
      assert.deepEqual(
        entries.filter((e) => e.kind === "step").map((e) => [e.step, who.get(e.pid)]),
        [["one", "the frozen worker A"], ["two", "worker B"], ["three", "worker B"]],
      );
      assert.equal(stored.get("one")!.workerId, workerIdOf(a));
      assert.equal(stored.get("three")!.workerId, workerIdOf(b));
      assert.deepEqual(output.parts, ["one", "two", "three"].map((s) => stored.get(s)!.output));
      const stats = await statsOf(a);
      assert.equal(stats.completed, 0, "A reported no outcome for the run it lost");
      console.log(`A frozen ${frozenMs} ms; after SIGCONT it abandoned the run quietly`);
    } finally {
      a.kill("SIGCONT");
    }
  },
);

Deno.test(
  `a worker frozen while its PollTask answer is in flight does not start that run once it was taken over (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(leaseMs) });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    await using a = await startZombieWorker(server.url, journal.path);
    const aId = workerIdOf(a);
    // A warm-up run: once A has claimed it, A's next PollTask is waiting on the server.
    const warmUp = await client.start("pause").input({ pauseMs: 0 });
    await warmUp.result({ timeout: "30s" });
    assert.equal((await client.listSteps(warmUp.id))[0].workerId, aId);

    a.kill("SIGSTOP");
    const frozenAt = Date.now();
    try {
      // The server answers A's waiting poll with this run while A cannot read the answer.
      const run = await client.start("pause").input({ pauseMs: 0 });
      await waitFor("A's waiting poll to claim the run", async () => {
        const w = await client.get(run.id);
        return w.status === "RUNNING" && w.workerId === aId;
      }, 10_000);
      await using b = await startZombieWorker(server.url, journal.path);
      const who = new Map([[a.pid, "the frozen worker A"], [b.pid, "worker B"]]);
      const output = await run.result({ timeout: "30s" }) as { parts: string[] };
      const frozenMs = Date.now() - frozenAt;
      assert.ok(frozenMs > leaseMs, `A was frozen ${frozenMs} ms, longer than its lease`);
      a.kill("SIGCONT");
      // A now reads the stale answer; it must drop the task without running any step.
      await waitForAbandoned(a, (await client.get(run.id)).attempts - 1);

      const entries = readEntries(journal.path).filter((e) => e.run === run.id);
      const stored = storedSteps(await client.listSteps(run.id));
      assertNoStepAfterStored(entries, stored, who);
      assert.deepEqual(
        entries.map((e) => [e.step, who.get(e.pid)]),
        [["one", "worker B"], ["two", "worker B"], ["three", "worker B"]],
      );
      const w = await client.get(run.id);
      assert.equal(w.status, "COMPLETED");
      assert.ok(w.attempts >= 2, `the lease A got was recovered: ${w.attempts} attempts`);
      assert.deepEqual(output.parts, ["one", "two", "three"].map((s) => stored.get(s)!.output));
      console.log(`A frozen ${frozenMs} ms with a poll answer in flight; it dropped the task`);
    } finally {
      a.kill("SIGCONT");
    }
  },
);
