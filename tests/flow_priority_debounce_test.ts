/**
 * Priority and debounce on both backends with a real server: with a backlog, higher-priority runs
 * begin before lower-priority runs started earlier (the type's priority is the default); a burst
 * of starts of one debounce key within its period collapses into one run that begins at least
 * `period` after the last start with the last input, other keys unaffected; `maxWait` bounds the
 * delay. The API.md "Flow control" example (without named step rate limits) runs as written.
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, Kagzi, Worker, type WorkflowRun } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of await backends()) {
  Deno.test(`priority and debounce on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "100"] });
    const client = await Kagzi.connect(server.url);

    await t.step("priority-10 runs begin before priority-0 runs started earlier", async () => {
      const begun: number[] = [];
      const prio = defineWorkflow("prio", async (ctx: Context, input: { n: number }) => {
        await ctx.step("begin").run(() => void begun.push(input.n));
        return input.n;
      }, { priority: 5 });
      // Registered once (its priority is stored), then the backlog with no worker serving it.
      await (await Worker.builder(server.url).workflow(prio).build()).shutdown();
      const low = [];
      for (let n = 0; n < 10; n++) low.push(await client.start(prio).input({ n }).priority(0));
      const dflt = await client.start(prio).input({ n: 50 });
      const high = [];
      for (let n = 100; n < 105; n++) high.push(await client.start(prio).input({ n }).priority(10));
      assert.equal((await client.get(dflt.id)).priority, 5, "the type's priority is the default");
      assert.equal((await client.get(high[0].id)).priority, 10);
      const w = await Worker.builder(server.url).workflow(prio).maxConcurrent(1).build();
      const running = w.run();
      try {
        await Promise.all([...low, dflt, ...high].map((r) => r.result({ timeout: "30s" })));
      } finally {
        await w.shutdown();
        await running;
      }
      assert.deepEqual(begun, [100, 101, 102, 103, 104, 50, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    await t.step(
      "20 starts of one key in 1 s: one run, last input, begun after the period",
      async () => {
        const seen: { key: string; n: number }[] = [];
        const debounced = defineWorkflow(
          "debounced",
          async (ctx: Context, input: { customerId: string; n: number }) => {
            await ctx.step("run").run(() => void seen.push({ key: input.customerId, n: input.n }));
            return input.n;
          },
          { debounce: { key: "input.customerId", period: "1s", maxWait: "1m" } },
        );
        const w = await Worker.builder(server.url).workflow(debounced).build();
        const running = w.run();
        try {
          const burst: WorkflowRun<number>[] = [];
          let lastStartAt = 0; // when the last start was sent: the server stored it later
          for (let n = 0; n < 20; n++) {
            if (n) await sleep(50);
            lastStartAt = Date.now();
            burst.push(await client.start(debounced).input({ customerId: "A", n }));
          }
          const other = await client.start(debounced).input({ customerId: "B", n: 99 });
          assert.equal(burst[0].debounced, false, "the first start stores the run");
          assert.ok(burst.slice(1).every((r) => r.debounced), "later starts join it");
          assert.ok(burst.every((r) => r.id === burst[0].id), "one run");
          assert.notEqual(other.id, burst[0].id, "another key has its own run");
          assert.equal(await burst[0].result({ timeout: "30s" }), 19, "the last input");
          assert.equal(await other.result({ timeout: "30s" }), 99);
          const run = await client.get(burst[0].id);
          assert.ok(
            run.startedAt!.getTime() >= lastStartAt + 1000,
            `begun ${run.startedAt!.getTime() - lastStartAt} ms after the last start`,
          );
          assert.deepEqual(seen.sort((a, b) => a.n - b.n), [{ key: "A", n: 19 }, {
            key: "B",
            n: 99,
          }]);
          const listed = await client.list().type("debounced");
          assert.equal(listed.workflows.length, 2);
        } finally {
          await w.shutdown();
          await running;
        }
      },
    );

    await t.step("maxWait bounds the delay of a steady stream of starts", async () => {
      const bounded = defineWorkflow(
        "bounded",
        (_ctx: Context, input: { n: number }) => Promise.resolve(input.n),
        { debounce: { period: "700ms", maxWait: "1s" } },
      );
      const w = await Worker.builder(server.url).workflow(bounded).build();
      const running = w.run();
      try {
        const ids = new Set<string>();
        const first = await client.start(bounded).input({ n: 0 });
        for (let n = 1; n < 12; n++) {
          await sleep(200);
          ids.add((await client.start(bounded).input({ n })).id);
        }
        ids.add(first.id);
        assert.ok(ids.size >= 2, `a new run after maxWait: ${ids.size} run(s)`);
        const began = (await client.get(first.id)).startedAt;
        assert.ok(began, "the first run began while starts kept coming");
      } finally {
        await w.shutdown();
        await running;
      }
    });

    await t.step("the API.md example runs as written", async () => {
      const handler = async (ctx: Context, input: { customerId: string; tenant: string }) =>
        await ctx.step("sync").run(() => `synced ${input.customerId}`);
      const v = { customerId: "42", tenant: "acme" };
      // --- API.md "Flow control" (named step rate limits are another part of issue 20) ---
      const syncCustomer = defineWorkflow("sync-customer", handler, {
        concurrency: [
          { key: "input.customerId", limit: 1 }, // one open run per customer at a time
          { limit: 20 },
        ], // and at most 20 open runs of the type
        rateLimit: { key: "input.tenant", limit: 100, period: "1m" }, // at most 100 runs begun per minute per tenant
        debounce: { key: "input.customerId", period: "10s", maxWait: "1m" }, // starts within 10 s collapse
        priority: 0, // default priority of its runs
      });
      const worker = await Worker.builder(server.url).workflow(syncCustomer).build();
      const running = worker.run();
      try {
        const run = await client.start(syncCustomer).input(v).priority(10); // higher is claimed first; FIFO within one priority
        // ---
        const again = await client.start(syncCustomer).input(v);
        assert.equal(again.debounced, true);
        assert.equal(again.id, run.id);
        const w = await client.get(run.id);
        assert.equal(w.status, "PENDING");
        assert.equal(w.priority, 0, "the last start's priority (the type's default)");
        const fc = await client.flowControl(syncCustomer);
        assert.deepEqual(fc.registrations[0].concurrency, [
          { key: "input.customerId", limit: 1 },
          { limit: 20 },
        ]);
        assert.deepEqual(fc.registrations[0].debounce, {
          key: "input.customerId",
          period: "10s",
          maxWait: "1m",
        });
        assert.equal(await run.result({ timeout: "30s" }), "synced 42");
      } finally {
        await worker.shutdown();
        await running;
      }
    });
  });
}
