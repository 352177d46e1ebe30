/**
 * Graceful shutdown of real worker processes (SIGTERM): in-flight steps are never abandoned
 * mid-flight and never run on two workers at once, heartbeats go on until in-flight runs are
 * finished or released (the Rust Kagzi's shutdown race), and a released run is taken over at once.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

/** Clock slack between processes on this machine. */
const slackMs = 5;

/** Resolves with the value, or rejects when it takes longer than `ms`. */
async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const entriesOf = (journal: string, runId: string) =>
  readJournal(journal).filter((e) => e.run === runId).sort((a, b) => a.at - b.at);

Deno.test(
  `graceful shutdown with a step still running: no step runs on two workers at once and the run completes (${backend})`,
  async (t) => {
    await t.step(
      "within the shutdown timeout the draining worker finishes its run, still heartbeating",
      async () => {
        // A 2 s lease, and 6 s of steps left when SIGTERM arrives: if heartbeats stopped at
        // SIGTERM the lease would expire mid-run and W2 would run the steps again.
        const leaseMs = 2_000;
        const stepMs = 2_000;
        await using server = await startTestServer(backend, { args: leaseFlags(leaseMs) });
        await using journal = await tempJournal();
        const client = await Kagzi.connect(server.url);
        const opts = { types: ["three-steps"], journal: journal.path };
        await using w1 = await startWorker(server.url, { ...opts, shutdownTimeout: "10s" });
        const run = await client.start("three-steps").input({ stepMs });
        await waitFor("step one to start", () => entriesOf(journal.path, run.id).length >= 1);
        w1.kill("SIGTERM");
        const signalledAt = Date.now();
        await using w2 = await startWorker(server.url, opts);

        // W1 stopped polling: a run started now goes to W2.
        const other = await client.start("three-steps").input({ stepMs: 0 });
        assert.deepEqual(await other.result({ timeout: "20s" }), {
          out: [1, 2, 3],
          runId: other.id,
        });
        assert.ok(entriesOf(journal.path, other.id).every((e) => e.pid === w2.pid));

        assert.deepEqual(await run.result({ timeout: "30s" }), { out: [1, 2, 3], runId: run.id });
        const entries = entriesOf(journal.path, run.id);
        assert.deepEqual(
          entries.map((e) => [e.step, e.pid]),
          [["one", w1.pid], ["two", w1.pid], ["three", w1.pid]],
          "each step ran exactly once, all on the draining worker",
        );
        const status = await within("W1's exit", w1.status, 15_000);
        assert.ok(status.success, `W1 exited with ${JSON.stringify(status)}:\n${w1.output()}`);
        assert.ok(
          Date.now() - signalledAt >= 2 * stepMs,
          "W1 stayed up while its run had steps left",
        );
        assert.match(w1.output(), /worker stopped/);
        const w = await client.get(run.id);
        assert.equal(w.status, "COMPLETED");
        assert.equal(w.attempts, 1, "the run was never taken away from W1");
      },
    );

    await t.step(
      "past the shutdown timeout the step settles, the run is released and completes elsewhere at once",
      async () => {
        // Semantics pinned here: when `shutdownTimeout` passes with a step still running, the
        // worker aborts the run's signal but does not abandon the step mid-flight: it waits for
        // the step function to settle, stores its output while it still holds the lease, then
        // releases the run on Deregister (no lease expiry needed) and exits 0. So the step runs
        // exactly once, never on two workers at the same time, and nothing completed is re-run.
        // The lease is long (20 s), so a prompt takeover can only come from the release.
        const leaseMs = 20_000;
        const stepMs = 3_000;
        await using server = await startTestServer(backend, { args: leaseFlags(leaseMs) });
        await using journal = await tempJournal();
        const client = await Kagzi.connect(server.url);
        const opts = { types: ["three-steps"], journal: journal.path };
        await using w1 = await startWorker(server.url, { ...opts, shutdownTimeout: "500ms" });
        const run = await client.start("three-steps").input({ stepMs });
        await waitFor("step one to start", () => entriesOf(journal.path, run.id).length >= 1);
        const [first] = entriesOf(journal.path, run.id);
        assert.equal(first.pid, w1.pid);
        w1.kill("SIGTERM");
        await using w2 = await startWorker(server.url, opts);

        const status = await within("W1's exit", w1.status, 15_000);
        const exitedAt = Date.now();
        assert.ok(status.success, `W1 exited with ${JSON.stringify(status)}:\n${w1.output()}`);
        assert.ok(
          exitedAt >= first.at + stepMs - slackMs,
          `W1 exited ${exitedAt - first.at} ms after its step began: before the step settled`,
        );

        assert.deepEqual(await run.result({ timeout: "30s" }), { out: [1, 2, 3], runId: run.id });
        const entries = entriesOf(journal.path, run.id);
        const onW1 = entries.filter((e) => e.pid === w1.pid);
        const onW2 = entries.filter((e) => e.pid === w2.pid);
        assert.equal(onW1.length + onW2.length, entries.length);
        assert.deepEqual(onW1.map((e) => e.step), ["one"], "W1 ran only the step in flight");
        const count = (step: string) => entries.filter((e) => e.step === step).length;
        assert.equal(count("one"), 1, "the step that finished during shutdown is not run again");
        assert.equal(count("two"), 1);
        assert.equal(count("three"), 1);
        // Never on two workers at once: W2 began only after W1's step had settled.
        assert.deepEqual(onW2.map((e) => e.step), ["two", "three"]);
        assert.ok(
          onW2[0].at >= first.at + stepMs - slackMs,
          `W2 began ${onW2[0].at - first.at} ms after W1's step began, before it settled`,
        );
        // Released, not left to expire: W2 took over within a fraction of the 20 s lease.
        const takeover = onW2[0].at - exitedAt;
        assert.ok(takeover < 3_000, `W2 took over ${takeover} ms after W1 exited`);

        const w = await client.get(run.id);
        assert.equal(w.status, "COMPLETED");
        assert.match(w1.output(), /worker stopped/);
        const stored = (await client.listSteps(run.id)).filter((s) => s.status === "COMPLETED");
        assert.deepEqual(stored.map((s) => s.name).sort(), ["one", "three", "two"]);
        console.log(
          `released after the timeout: W1 exited ${exitedAt - first.at} ms after its step began, ` +
            `W2 took over ${takeover} ms later; executions: ${
              entries.map((e) => `${e.step}@${e.pid === w1.pid ? "W1" : "W2"}`).join(", ")
            }`,
        );
      },
    );
  },
);
