import assert from "node:assert/strict";
import {
  type Context,
  Kagzi,
  KagziError,
  NonRetryableError,
  Retry,
  RetryAfterError,
  StepFailedError,
  Worker,
  type WorkflowFn,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer, type TestServer } from "./_server.ts";

const fast = ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200"];

async function withWorker<T>(
  server: TestServer,
  flows: Record<string, WorkflowFn>,
  body: (client: Kagzi, worker: Worker) => Promise<T>,
  namespace = "default",
): Promise<T> {
  const worker = await Worker.builder(server.url).namespace(namespace).workflows(flows).build();
  const running = worker.run();
  try {
    return await body(await Kagzi.connect(server.url, { namespace }), worker);
  } finally {
    await worker.shutdown();
    await running;
  }
}

for (const backend of await backends()) {
  Deno.test(`durable execution on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, { args: fast });

    await t.step(
      "ctx.step() runs each step once and returns the stored output on replay",
      async () => {
        const calls: string[] = [];
        const wf = async (ctx: Context, input: { n: number }) => {
          const a = await ctx.step("a").run(() => {
            calls.push("a");
            return { n: input.n + 1, at: new Date(0).toISOString() };
          });
          await ctx.sleep("pause", "50ms");
          const b = await ctx.step("b").run(() => {
            calls.push("b");
            return a.n * 10;
          });
          return { a, b };
        };
        await withWorker(server, { memo: wf }, async (client) => {
          const run = await client.start("memo").input({ n: 1 });
          assert.deepEqual(await run.result(), {
            a: { n: 2, at: "1970-01-01T00:00:00.000Z" },
            b: 20,
          });
          assert.deepEqual(
            calls,
            ["a", "b"],
            "a is replayed from storage after the sleep, not re-run",
          );
        });
      },
    );

    await t.step(
      "a 100-iteration loop of repeated step and sleep names replays correctly with linear RPCs",
      async () => {
        const wf = async (ctx: Context, input: { n: number }) => {
          let total = 0;
          for (let i = 0; i < input.n; i++) {
            total += await ctx.step("same-name").run(() => i);
            await ctx.sleep("tick", "10ms");
          }
          return total;
        };
        const rpcsFor = async (n: number) =>
          await withWorker(server, { loop: wf }, async (client, worker) => {
            const before = worker.stats.rpcs;
            const run = await client.start("loop").input({ n });
            assert.equal(await run.result({ timeout: "60s" }), (n * (n - 1)) / 2);
            const after = worker.stats.rpcs;
            const count = (r: Record<string, number>) =>
              (r.completeStep ?? 0) + (r.sleep ?? 0) + (r.completeWorkflow ?? 0) +
              (r.failStep ?? 0) + (r.report ?? 0);
            return {
              run: count(after) - count(before),
              polls: (after.pollTask ?? 0) - (before.pollTask ?? 0),
            };
          });
        const small = await rpcsFor(20);
        const large = await rpcsFor(100);
        // Each iteration costs one Sleep, which carries its step's output (the server says
        // steps_with_sleep); replays cost nothing.
        assert.equal(small.run, 20 + 1);
        assert.equal(large.run, 100 + 1);
        assert.ok(large.polls <= 100 * 2 + 10, `polls grow linearly: ${large.polls}`);
      },
    );

    await t.step(
      "ctx.sleep('x', '1s') wakes the run without waiting for the worker's next poll (30 s)",
      async () => {
        const wf = async (ctx: Context) => {
          const t0 = await ctx.step("t0").run(() => Date.now());
          await ctx.sleep("x", "1s");
          return await ctx.step("t1").run(() => Date.now() - t0);
        };
        await withWorker(server, { sleepy: wf }, async (client) => {
          const started = Date.now();
          const run = await client.start("sleepy");
          // Well short of the 30 s poll timeout a missed wake-up costs.
          const slept = await run.result({ timeout: "20s" });
          const total = Date.now() - started;
          assert.ok((slept as number) >= 1_000, `slept ${slept} ms`);
          console.log(`a 1 s sleep took ${total} ms end to end`);
        });
      },
    );

    await t.step(
      "a worker registered for two workflow types runs both (no starvation)",
      async () => {
        await withWorker(server, {
          first: (ctx) => ctx.step("s").run(() => "first"),
          second: (ctx) => ctx.step("s").run(() => "second"),
        }, async (client) => {
          const runs = await Promise.all([
            ...Array.from({ length: 10 }, () => client.start("first")),
            ...Array.from({ length: 10 }, () => client.start("second")),
          ]);
          const results = await Promise.all(runs.map((r) => r.result({ timeout: "20s" })));
          assert.equal(results.filter((r) => r === "first").length, 10);
          assert.equal(results.filter((r) => r === "second").length, 10);
        });
      },
    );

    await t.step(
      "retries: attempts and backoff spacing within jitter bounds, then success",
      async () => {
        const times: number[] = [];
        const wf = (ctx: Context) =>
          ctx.step("flaky").retry(Retry.exponential(4).initial("200ms").backoff(2)).run(() => {
            times.push(Date.now());
            if (times.length < 3) throw new Error(`attempt ${times.length}`);
            return times.length;
          });
        await withWorker(server, { flaky: wf }, async (client) => {
          const run = await client.start("flaky");
          assert.equal(await run.result({ timeout: "20s" }), 3);
          // The delays the server chose, as stored: 200 ms ±20% then 400 ms ±20%; and no
          // attempt began before its retry was due (how much later depends on the load).
          const attempts = await client.listSteps(run.id);
          assert.deepEqual(attempts.map((a) => a.status), ["FAILED", "FAILED", "COMPLETED"]);
          const failed = attempts.slice(0, 2);
          assert.match(failed[0].error?.message ?? "", /attempt 1/);
          // retry_at is the server's clock when it chose the delay; finished_at the database's
          // when the failure was written a moment later (longer under load): up to 50 ms less.
          const delays = failed.map((a) => a.retryAt!.getTime() - a.finishedAt!.getTime());
          assert.ok(delays[0] >= 160 - 50 && delays[0] <= 240, `first delay ${delays[0]}`);
          assert.ok(delays[1] >= 320 - 50 && delays[1] <= 480, `second delay ${delays[1]}`);
          for (const [k, a] of failed.entries()) {
            assert.ok(times[k + 1] >= a.retryAt!.getTime() - 5, `attempt ${k + 2} began early`);
          }
        });
      },
    );

    await t.step(
      "exhausted, non-retryable and Retry.none() steps reject with StepFailedError the workflow can catch",
      async () => {
        const seen: Record<string, number> = {};
        const failing = (name: string, make: () => Error) => () => {
          seen[name] = (seen[name] ?? 0) + 1;
          throw make();
        };
        const wf = async (ctx: Context) => {
          const out: Record<string, string> = {};
          const cases: [string, Retry | undefined, () => Error][] = [
            ["exhausted", Retry.attempts(2).initial("10ms"), () => new Error("always")],
            ["by-name", Retry.attempts(5).initial("10ms").nonRetryable(["InvalidArgument"]), () => {
              const e = new Error("bad");
              e.name = "InvalidArgument";
              return e;
            }],
            [
              "non-retryable",
              Retry.attempts(5).initial("10ms"),
              () => new NonRetryableError("nope"),
            ],
            ["none", Retry.none(), () => new Error("once")],
          ];
          for (const [name, policy, make] of cases) {
            try {
              await ctx.step(name).retry(policy!).run(failing(name, make));
              out[name] = "succeeded?";
            } catch (e) {
              out[name] = e instanceof StepFailedError ? `caught ${e.step}` : `other ${e}`;
            }
          }
          await ctx.step("compensate").run(() => "refund");
          return out;
        };
        await withWorker(server, { failing: wf }, async (client) => {
          const run = await client.start("failing");
          assert.deepEqual(await run.result({ timeout: "20s" }), {
            exhausted: "caught exhausted",
            "by-name": "caught by-name",
            "non-retryable": "caught non-retryable",
            none: "caught none",
          });
          assert.deepEqual(seen, { exhausted: 2, "by-name": 1, "non-retryable": 1, none: 1 });
        });
      },
    );

    await t.step("RetryAfterError sets the next attempt's delay", async () => {
      const times: number[] = [];
      const wf = (ctx: Context) =>
        ctx.step("later").retry(Retry.attempts(3).initial("10ms")).run(() => {
          times.push(Date.now());
          if (times.length === 1) throw new RetryAfterError("busy", "700ms");
          return "ok";
        });
      await withWorker(server, { later: wf }, async (client) => {
        assert.equal(await (await client.start("later")).result({ timeout: "20s" }), "ok");
        assert.ok(times[1] - times[0] >= 700, `waited ${times[1] - times[0]} ms`);
      });
    });

    await t.step(
      "an uncaught step failure or a throw outside steps fails the run with the error",
      async () => {
        const wf = async (ctx: Context, input: { where: string }) => {
          if (input.where === "outside") throw new TypeError("broken workflow");
          await ctx.step("s").retry(Retry.none()).run(() => {
            throw new RangeError("bad step");
          });
        };
        await withWorker(server, { broken: wf }, async (client) => {
          const a = await client.start("broken").input({ where: "outside" });
          await assert.rejects(a.result(), (e: KagziError) => {
            assert.equal(e.name, "WorkflowFailedError");
            assert.match(e.message, /broken workflow/);
            assert.equal(e.metadata.name, "TypeError");
            return true;
          });
          const b = await client.start("broken").input({ where: "step" });
          await assert.rejects(b.result(), /Step "s" failed: bad step/);
          assert.equal((await client.get(b.id)).status, "FAILED");
        });
      },
    );

    await t.step(
      "a bad input payload fails the run with a clear error instead of becoming null",
      async () => {
        let called = false;
        await withWorker(server, {
          typed: () => Promise.resolve(called = true),
        }, async (client) => {
          const res = await fetch(`${server.url}/kagzi.v1.WorkflowService/StartWorkflow`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              workflowType: "typed",
              // Unlabelled, so the server lets it through (labelled JSON is checked at the
              // door, tests/bad_input_test.ts); the SDK reads unlabelled data as JSON.
              input: { data: btoa("{not json"), metadata: {} },
            }),
          });
          const { runId } = await res.json();
          const w = await waitFor(client, runId, "FAILED");
          assert.match(w.error?.message ?? "", /input is not valid JSON/);
          assert.equal(called, false);
        });
      },
    );

    await t.step("outputs must round-trip through JSON", async () => {
      const wf = (ctx: Context) => ctx.step("big").run(() => 10n as unknown as number);
      await withWorker(server, { bigint: wf }, async (client) => {
        const run = await client.start("bigint");
        await assert.rejects(run.result(), /cannot be stored as JSON: the value: a BigInt/);
      });
    });

    await t.step(
      "a step timeout aborts the step's signal and counts as a retryable failure",
      async () => {
        let aborted = 0;
        let attempts = 0;
        const wf = (ctx: Context) =>
          ctx.step("slow").retry(Retry.attempts(3).initial("10ms")).timeout("150ms").run(
            (signal) => {
              attempts++;
              if (attempts >= 2) return "fast enough";
              return new Promise((_, reject) => {
                signal.addEventListener("abort", () => {
                  aborted++;
                  reject(signal.reason);
                });
              });
            },
          );
        await withWorker(server, { timeouts: wf }, async (client) => {
          assert.equal(
            await (await client.start("timeouts")).result({ timeout: "20s" }),
            "fast enough",
          );
          assert.equal(aborted, 1);
          assert.equal(attempts, 2);
        });
      },
    );

    await t.step(
      "cancellation reaches ctx.signal and the step's signal; the run ends CANCELLED",
      async () => {
        let stepSignalAborted = false;
        let started!: () => void;
        const running = new Promise<void>((r) => (started = r));
        const wf = (ctx: Context) =>
          ctx.step("forever").run((signal) =>
            new Promise((_, reject) => {
              started();
              signal.addEventListener("abort", () => {
                stepSignalAborted = ctx.signal.aborted;
                reject(signal.reason);
              });
            })
          );
        await withWorker(server, { cancellable: wf }, async (client) => {
          const run = await client.start("cancellable");
          await running;
          const t0 = Date.now();
          await client.cancel(run.id);
          await assert.rejects(run.result(), (e: Error) => e.name === "WorkflowCancelledError");
          for (let i = 0; i < 50 && !stepSignalAborted; i++) {
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok(stepSignalAborted, "the step's signal and ctx.signal were aborted");
          assert.ok(Date.now() - t0 < 2_500, "within about one heartbeat");
          assert.equal((await client.get(run.id)).status, "CANCELLED");
        });
      },
    );

    await t.step(
      "parallel steps with Promise.all, race and allSettled keep memoization and retries",
      async () => {
        const calls: Record<string, number> = {};
        const count = (k: string) => (calls[k] = (calls[k] ?? 0) + 1);
        const wf = async (ctx: Context) => {
          const all = await Promise.all(
            [1, 2, 3].map((i) => ctx.step("p").run(() => (count(`p${i}`), i * 10))),
          );
          const settled = await Promise.allSettled([
            ctx.step("ok").run(() => (count("ok"), "ok")),
            ctx.step("bad").retry(Retry.attempts(2).initial("20ms")).run(() => {
              count("bad");
              throw new Error("nope");
            }),
          ]);
          const raced = await Promise.race([
            ctx.step("quick").run(() => (count("quick"), "quick")),
            ctx.sleep("slow", "1 day").then(() => "slow"),
          ]);
          return { all, settled: settled.map((s) => s.status), raced };
        };
        await withWorker(server, { parallel: wf }, async (client) => {
          const run = await client.start("parallel");
          assert.deepEqual(await run.result({ timeout: "20s" }), {
            all: [10, 20, 30],
            settled: ["fulfilled", "rejected"],
            raced: "quick",
          });
          assert.deepEqual(calls, { p1: 1, p2: 1, p3: 1, ok: 1, bad: 2, quick: 1 });
        });
      },
    );

    await t.step(
      "step outputs reported at the same moment travel in one Report and are stored once each",
      async () => {
        const wf = async (ctx: Context) => {
          const outs = await Promise.all(
            Array.from({ length: 20 }, (_, i) => ctx.step("fan").run(() => ({ i }))),
          );
          return outs.map((o) => o.i);
        };
        await withWorker(server, { fan: wf }, async (client, worker) => {
          const before = worker.stats.rpcs;
          const run = await client.start("fan");
          assert.deepEqual(await run.result({ timeout: "20s" }), [...Array(20).keys()]);
          const after = worker.stats.rpcs;
          const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
          assert.ok(delta("report") >= 1, `a Report was sent: ${JSON.stringify(after)}`);
          assert.ok(
            delta("report") + delta("completeStep") + delta("completeWorkflow") <= 3,
            `20 outputs and the completion took few calls: ${JSON.stringify(after)}`,
          );
          const attempts = await client.listSteps(run.id);
          assert.equal(attempts.length, 20);
          assert.ok(attempts.every((a) => a.status === "COMPLETED" && a.attempt === 1));
        });
      },
    );

    await t.step(
      "a worker asked to drain by the server stops polling, deregisters and run() resolves",
      async () => {
        const worker = await Worker.builder(server.url).workflows({ idle: () => Promise.resolve() })
          .build();
        const running = worker.run();
        const client = await Kagzi.connect(server.url);
        const drained = await client.drainWorker(worker.id);
        assert.equal(drained.status, "DRAINING");
        await running; // within about one heartbeat (300 ms here)
        assert.equal((await client.getWorker(worker.id)).status, "OFFLINE");
        const run = await client.start("idle");
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(
          (await client.get(run.id)).status,
          "PENDING",
          "a drained worker takes no work",
        );
        await client.cancel(run.id);
      },
    );

    await t.step(
      "worker.build() rejects with a clear error when nothing is registered or the server is away",
      async () => {
        await assert.rejects(Worker.builder(server.url).build(), /no workflow is registered/);
        await assert.rejects(
          Worker.builder("http://127.0.0.1:1").workflows({ x: () => Promise.resolve() }).build(),
          (e: KagziError) =>
            e.code === "UNAVAILABLE" && /Cannot reach the Kagzi server/.test(e.message),
        );
      },
    );
  });
}

async function waitFor(client: Kagzi, runId: string, status: string) {
  for (let i = 0; i < 200; i++) {
    const w = await client.get(runId);
    if (w.status === status) return w;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} never became ${status}`);
}
