/**
 * Code changed under a run in flight: a replay whose code asks for another step (kind or name)
 * than the run's history recorded parks the run (PARKED) and runs nothing; the operator
 * resumes it (again with matching code, or `fromHere` accepting the new code) or cancels it.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker, type WorkflowRun } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { expect, kagzi } from "./_cli.ts";

/** Step executions, by "workflowId:step": the evidence from inside the steps. */
const ran = new Map<string, number>();
const count = (ctx: Context, step: string) => {
  const k = `${ctx.workflowId}:${step}`;
  ran.set(k, (ran.get(k) ?? 0) + 1);
};
const times = (id: string, step: string) => ran.get(`${id}:${step}`) ?? 0;

function order(charge: string, tag: string) {
  return async (ctx: Context) => {
    await ctx.step("fetch-user").run(() => count(ctx, "fetch-user"));
    await ctx.step(charge).run(() => count(ctx, charge));
    const by = await ctx.waitForSignal<string>("approve");
    await ctx.step("ship").run(() => count(ctx, "ship"));
    return `${tag} approved by ${by}`;
  };
}
const v1 = order("charge-card", "v1");
const v2 = order("charge-payment", "v2");

Deno.test("a renamed step parks runs in flight; resume (matching code or from here) and cancel", async (t) => {
  const all = await backends();
  await using server = await startTestServer(all.includes("postgres") ? "postgres" : all[0]);
  const cli = (...args: string[]) => kagzi(args, { KAGZI_ADDRESS: server.url });
  const client = await Kagzi.connect(server.url);
  const ids = ["o-1", "o-2", "o-3"];
  const runs: Record<string, string> = {};
  const handles: Record<string, WorkflowRun> = {};

  const a = await Worker.builder(server.url).logger(false).workflows({ order: v1 }).build();
  let running = a.run();
  for (const id of ids) {
    handles[id] = await client.start("order").id(id);
    runs[id] = handles[id].id;
  }
  for (const id of ids) {
    await waitFor(
      `${id} to wait for approval`,
      async () => (await client.get(runs[id])).waits.some((w) => w.kind === "signal"),
    );
  }
  await a.shutdown();
  await running;

  // The deploy renames charge-card to charge-payment; the approvals arrive.
  const b = await Worker.builder(server.url).logger(false).workflows({ order: v2 }).build();
  running = b.run();
  try {
    await t.step("the replay parks each run where the code asks for another step", async () => {
      for (const id of ids) await client.signal(runs[id], "approve", "ana");
      for (const id of ids) {
        await waitFor(
          `${id} to park`,
          async () => (await client.get(runs[id])).status === "PARKED",
        );
        const w = await client.get(runs[id]);
        assert.deepEqual(w.parked?.expected, {
          kind: "function",
          name: "charge-card",
          occurrence: 1,
        });
        assert.deepEqual(w.parked?.asked, {
          kind: "function",
          name: "charge-payment",
          occurrence: 1,
        });
        assert.deepEqual(w.waits, [], "a parked run waits for an operator, nothing else");
        assert.equal(times(id, "charge-card"), 1);
        assert.equal(times(id, "charge-payment"), 0, "the renamed step did not run");
        assert.equal(times(id, "ship"), 0, "nothing after it ran");
      }
      const shown = expect(await cli("run", "show", "o-1"), 0, "show parked").json();
      assert.equal(shown.status, "PARKED");
      const table = expect(await cli("run", "show", "o-1", "-o", "table"), 0, "table").stdout;
      assert.match(
        table,
        /Parked:.*its history has function "charge-card"#1, the code asked for function "charge-payment"#1/,
      );
    });

    await t.step("cancel ends a parked run", async () => {
      const r = expect(await cli("run", "cancel", "o-3"), 0, "cancel parked").json();
      assert.equal(r[0].status, "CANCELLED");
    });

    await t.step(
      "resume with code that still differs parks it again, running nothing",
      async () => {
        const before = (await client.get(runs["o-2"])).parked!.at;
        await client.resume(runs["o-2"]);
        await waitFor("o-2 to park again", async () => {
          const w = await client.get(runs["o-2"]);
          return w.status === "PARKED" && w.parked!.at > before;
        });
        assert.equal(times("o-2", "charge-payment"), 0);
      },
    );

    await t.step("resume --from-here accepts the new code from the mismatch on", async () => {
      expect(await cli("run", "resume", "o-1", "--from-here"), 0, "resume from here");
      assert.equal(await handles["o-1"].result({ timeout: "20s" }), "v2 approved by ana");
      assert.equal(times("o-1", "fetch-user"), 1, "steps before the mismatch are kept");
      assert.equal(times("o-1", "charge-payment"), 1, "the new step ran, as the operator accepted");
      assert.equal(times("o-1", "charge-card"), 1);
      assert.equal(times("o-1", "ship"), 1);
    });
  } finally {
    await b.shutdown();
    await running;
  }

  await t.step(
    "deploying code that matches, then resume, finishes the run without re-running",
    async () => {
      const c = await Worker.builder(server.url).logger(false).workflows({ order: v1 }).build();
      const r = c.run();
      try {
        await client.resume(runs["o-2"]);
        assert.equal(await handles["o-2"].result({ timeout: "20s" }), "v1 approved by ana");
        assert.equal(times("o-2", "charge-card"), 1, "charged once");
        assert.equal(times("o-2", "ship"), 1);
      } finally {
        await c.shutdown();
        await r;
      }
    },
  );
});

Deno.test("a new step beside recorded ones in parallel branches runs; no spurious park", async () => {
  const all = await backends();
  await using server = await startTestServer(all.includes("postgres") ? "postgres" : all[0]);
  const client = await Kagzi.connect(server.url);
  let open = false;
  let slowRuns = 0;
  // "slow" is still running when the worker stops (so it is not recorded); "p" and "q" are.
  const fanIn = async (ctx: Context) => {
    const [a, b] = await Promise.all([
      ctx.step("slow").run((signal) => {
        slowRuns++;
        if (open) return "slow";
        return new Promise<string>((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        );
      }),
      (async () => {
        const p = await ctx.step("p").run(() => "p");
        return await ctx.step("q").run(() => `${p}q`);
      })(),
    ]);
    return `${a}-${b}`;
  };
  const first = await Worker.builder(server.url).logger(false).shutdownTimeout("100ms")
    .workflows({ fanIn }).build();
  let running = first.run();
  const run = await client.start("fanIn");
  await waitFor(
    "p and q to be stored while slow runs",
    async () =>
      (await client.listSteps(run.id)).filter((s) => s.status === "COMPLETED").length === 2,
  );
  await first.shutdown();
  await running;
  open = true;
  const second = await Worker.builder(server.url).logger(false).workflows({ fanIn }).build();
  running = second.run();
  try {
    assert.equal(await run.result({ timeout: "20s" }), "slow-pq");
    assert.equal(slowRuns, 2, "slow ran again (it was not stored), p and q were replayed");
    assert.equal(second.stats.parked, 0);
  } finally {
    await second.shutdown();
    await running;
  }
});
