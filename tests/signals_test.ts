/**
 * Signals on both backends with real server and worker processes: a per-run mailbox kept
 * before the wait, FIFO per name, memoized waits, timeouts, idempotency, refusals with the
 * right codes, signal-with-start, and a worker kill -9 while a run waits.
 */
import assert from "node:assert/strict";
import {
  type Context,
  Kagzi,
  type KagziError,
  SignalTimeoutError,
  Worker,
  type WorkflowFn,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer, type TestServer } from "./_server.ts";
import { leaseFlags, readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

const fast = ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200"];

async function withWorker<T>(
  server: TestServer,
  flows: Record<string, WorkflowFn>,
  body: (client: Kagzi) => Promise<T>,
): Promise<T> {
  const worker = await Worker.builder(server.url).workflows(flows).build();
  const running = worker.run();
  try {
    return await body(await Kagzi.connect(server.url));
  } finally {
    await worker.shutdown();
    await running;
  }
}

const code = (c: string) => (e: KagziError) => e.code === c;

/** Waits until GetWorkflow shows the run suspended, waiting for signal `name`. */
async function waitingFor(client: Kagzi, runId: string, name: string) {
  await waitFor(`run ${runId} waiting for signal ${name}`, async () => {
    const w = await client.get(runId);
    return w.status === "SLEEPING" && w.waits.some((x) => x.kind === "signal" && x.name === name);
  });
}

const flows: Record<string, WorkflowFn> = {
  // Two waits for the same name: the first takes the oldest signal, the second the next.
  "two-signals": async (ctx: Context) => {
    await ctx.sleep("nap", "300ms");
    const a = await ctx.waitForSignal<string>("s");
    const b = await ctx.waitForSignal<string>("s");
    return [a, b];
  },
  "timeout": async (ctx: Context) => {
    let outcome = "";
    try {
      await ctx.waitForSignal("never", { timeout: "400ms" });
    } catch (err) {
      outcome = err instanceof SignalTimeoutError ? `timeout:${err.signalName}` : String(err);
    }
    return await ctx.step("after").run(() => outcome);
  },
  "drain": async (ctx: Context, input: { n: number }) => {
    const got: number[] = [];
    for (let i = 0; i < input.n; i++) got.push(await ctx.waitForSignal<number>("item"));
    return got;
  },
  "wait-one": (ctx: Context) => ctx.waitForSignal("s"),
};

for (const backend of await backends()) {
  Deno.test(`signals on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: [...fast, "--max-pending-signals", "120"],
    });
    await withWorker(server, flows, async (client) => {
      await t.step(
        "a signal sent before the wait and one after are received in order",
        async () => {
          const run = await client.start("two-signals");
          // Sent while the run sleeps, before any wait: kept in the mailbox.
          await run.signal("s", "first");
          // The first wait takes "first" from the mailbox; then the second is suspended on "s".
          await waitFor('the first wait consumed "first"', async () => {
            const listed = await run.listSignals();
            return listed.length === 1 && !!listed[0].consumedAt;
          });
          await waitingFor(client, run.id, "s");
          await run.signal("s", "second");
          assert.deepEqual(await run.result({ timeout: "90s" }), ["first", "second"]);
          const listed = await run.listSignals();
          assert.deepEqual(listed.map((s) => [s.payload, !!s.consumedAt]), [
            ["first", true],
            ["second", true],
          ]);
        },
      );

      await t.step(
        "GetWorkflow shows the wait; a timeout rejects and the run goes on",
        async () => {
          const waiting = await client.start("wait-one");
          await waitingFor(client, waiting.id, "s");
          const w = await client.get(waiting.id);
          assert.equal(w.status, "SLEEPING");
          await client.signal(waiting.id, "s", { ok: true });
          assert.deepEqual(await waiting.result({ timeout: "90s" }), { ok: true });

          const run = await client.start("timeout");
          assert.equal(await run.result({ timeout: "90s" }), "timeout:never");
        },
      );

      await t.step("the same idempotency key stores one signal", async () => {
        const run = await client.start("wait-one").id("idem-1");
        const a = await client.signal(run.id, "other", 1, { idempotencyKey: "k" });
        const b = await client.signal(run.id, "other", 2, { idempotencyKey: "k" });
        assert.equal(a.alreadyExists, false);
        assert.equal(b.alreadyExists, true);
        assert.equal(b.signalId, a.signalId);
        assert.deepEqual((await run.listSignals()).map((s) => s.payload), [1]);
        await run.signal("s", "done");
        assert.equal(await run.result({ timeout: "90s" }), "done");
      });

      await t.step(
        "finished, unknown and other-namespace runs answer the right codes",
        async () => {
          const run = await client.start("wait-one");
          await run.signal("s", 1);
          await run.result({ timeout: "90s" });
          await assert.rejects(
            run.signal("s", 2),
            (e: KagziError) => e.code === "PRECONDITION_FAILED" && /COMPLETED/.test(e.message),
          );
          await assert.rejects(
            client.signal(crypto.randomUUID(), "s", 1),
            code("NOT_FOUND"),
          );
          const open = await client.start("wait-one");
          await assert.rejects(
            client.signal(open.id, "s", 1, { namespace: "elsewhere" }),
            code("NOT_FOUND"),
          );
          await assert.rejects(client.signal(open.id, "", 1), code("INVALID_ARGUMENT"));
          await assert.rejects(
            client.signal(open.id, "s", "x".repeat(5 * 1024 * 1024)),
            code("INVALID_ARGUMENT"),
          );
          await client.cancel(open.id);
        },
      );

      await t.step(
        "too many unconsumed signals is RESOURCE_EXHAUSTED, nothing half-written",
        async () => {
          const run = await client.start("wait-one");
          await Promise.all(Array.from({ length: 120 }, (_, i) => run.signal("pile", i)));
          await assert.rejects(run.signal("pile", 999), code("RESOURCE_EXHAUSTED"));
          const listed = await run.listSignals();
          assert.equal(listed.length, 120);
          assert.ok(!listed.some((s) => s.payload === 999));
          await client.cancel(run.id);
        },
      );

      await t.step("signal-with-start starts the run, then delivers to the open run", async () => {
        const first = await client.start("two-signals").id("sws-1").signal("s", "one");
        assert.equal(first.alreadyExists, false);
        const second = await client.start("two-signals").id("sws-1").signal("s", "two");
        assert.equal(second.alreadyExists, true);
        assert.equal(second.id, first.id);
        assert.deepEqual(await first.result({ timeout: "90s" }), ["one", "two"]);
      });

      await t.step(
        "signal-with-start past an ended run: a new run by default, refused with fail",
        async () => {
          const first = await client.start("two-signals").id("sws-2").signal("s", "one");
          await client.signal(first.id, "s", "two");
          assert.deepEqual(await first.result({ timeout: "90s" }), ["one", "two"]);
          // The default (and "allow-after-end"): a new run takes the signal.
          const next = await client.start("two-signals").id("sws-2").signal("s", "three");
          assert.equal(next.alreadyExists, false);
          assert.notEqual(next.id, first.id);
          await client.signal(next.id, "s", "four");
          assert.deepEqual(await next.result({ timeout: "90s" }), ["three", "four"]);
          // "fail" and "allow-after-failure" start nothing past the completed run: CONFLICT,
          // naming it, and no signal is stored anywhere.
          for (const mode of ["fail", "allow-after-failure"] as const) {
            await assert.rejects(
              client.start("two-signals").id("sws-2").onDuplicate(mode).signal("s", "five"),
              (e: Error & { code: string; subject: string }) => {
                assert.equal(e.code, "CONFLICT");
                assert.equal(e.subject, "workflow_id");
                assert.match(e.message, /a signal cannot reach an ended run/);
                return true;
              },
            );
          }
          assert.equal((await next.listSignals()).length, 2);
        },
      );

      await t.step("100 signals to one run are drained in order by a loop", async () => {
        const run = await client.start("drain").input({ n: 100 });
        for (let i = 0; i < 100; i++) await run.signal("item", i);
        assert.deepEqual(
          await run.result({ timeout: "60s" }),
          Array.from({ length: 100 }, (_, i) => i),
        );
      });
    });
  });

  Deno.test(`a worker killed while a run waits for a signal on ${backend}`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    const worker = await startWorker(server.url, {
      types: ["signal-waiter"],
      journal: journal.path,
    });
    const run = await client.start("signal-waiter");
    await waitingFor(client, run.id, "go");
    worker.kill("SIGKILL");
    await worker.status;
    await run.signal("go", { n: 7 });
    await using second = await startWorker(server.url, {
      types: ["signal-waiter"],
      journal: journal.path,
    });
    assert.deepEqual(await run.result({ timeout: "90s" }), { n: 7 });
    const entries = readJournal(journal.path).filter((e) => e.run === run.id);
    // "before" completed in the killed worker and never ran again; "after" ran in the second.
    assert.deepEqual(entries.map((e) => [e.step, e.pid]), [
      ["before", worker.pid],
      ["after", second.pid],
    ]);
  });
}
