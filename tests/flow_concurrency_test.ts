/**
 * Concurrency limits on both backends with a real server: per-key and global limits hold while
 * runs sleep (an open run keeps its slot from its first claim until it ends), a run over a limit
 * stays PENDING with `waitingFor`, a cancelled holder frees its slot, priority orders a backlog,
 * and bad keys are refused at start naming the path.
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { kagzi } from "./_cli.ts";
import { peaks } from "./_flow_paths.ts";

interface Span {
  run: string;
  key: string;
  enter: number;
  exit?: number;
}

for (const backend of await backends()) {
  Deno.test(`concurrency limits per key and in all on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: ["--tick-interval-ms", "200"],
    });
    const client = await Kagzi.connect(server.url);
    const spans = new Map<string, Span>();
    const sync = defineWorkflow(
      "sync-customer",
      async (ctx: Context, input: { customer: { id: string }; n: number }) => {
        await ctx.step("enter").run(() => {
          spans.set(ctx.runId, { run: ctx.runId, key: input.customer.id, enter: Date.now() });
        });
        await ctx.sleep("nap", "50ms"); // a sleeping run keeps its slot
        await ctx.step("exit").run(() => {
          spans.get(ctx.runId)!.exit = Date.now();
        });
        return input.n;
      },
      { concurrency: [{ key: "input.customer.id", limit: 1 }, { limit: 3 }] },
    );
    // Suspended sleeps (not kept on the worker): a SLEEPING run keeps its slot.
    const worker = await Worker.builder(server.url).holdSleeps(0).workflow(sync).maxConcurrent(20)
      .build();
    const running = worker.run();
    try {
      await t.step("40 runs over 5 customers: one per customer, three in all", async () => {
        const runs = await Promise.all(
          Array.from(
            { length: 40 },
            (_, n) => client.start(sync).input({ customer: { id: `c${Math.floor(n / 8)}` }, n }),
          ),
        );
        const outs = await Promise.all(runs.map((r) => r.result({ timeout: "60s" })));
        assert.deepEqual(outs, runs.map((_, n) => n));
        assert.equal(spans.size, 40);
        assert.deepEqual(peaks([...spans.values()]).perKey, 1);
        assert.ok(
          peaks([...spans.values()]).total <= 3,
          JSON.stringify(peaks([...spans.values()])),
        );
        const fc = await client.flowControl(sync);
        assert.deepEqual(fc.keys, [], "every slot was given back");
      });
    } finally {
      await worker.shutdown();
      await running;
    }

    await t.step(
      "waitingFor names the key and the limit; cancel of the holder frees it",
      async () => {
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const held = defineWorkflow(
          "held",
          async (ctx: Context, _input: { customerId: string }) => {
            await ctx.step("hold").run(() => gate);
            return "done";
          },
          { concurrency: { key: "input.customerId", limit: 1 } },
        );
        const w = await Worker.builder(server.url).workflow(held).build();
        const r = w.run();
        try {
          const first = await client.start(held).input({ customerId: "cust-42" });
          await waitFor(
            "the first run to run",
            async () => (await client.get(first.id)).status === "RUNNING",
          );
          const second = await client.start(held).input({ customerId: "cust-42" });
          const other = await client.start(held).input({ customerId: "cust-7" });
          await waitFor(
            "the second run to wait for the slot",
            async () => (await client.get(second.id)).waitingFor !== undefined,
          );
          const waiting = await client.get(second.id);
          assert.equal(waiting.status, "PENDING");
          assert.deepEqual(waiting.waitingFor, {
            kind: "concurrency",
            key: "cust-42",
            limit: 1,
            path: "input.customerId",
          });
          await waitFor(
            "another key to run",
            async () => (await client.get(other.id)).status === "RUNNING",
          );
          const fc = await client.flowControl("held");
          const used = fc.keys.find((k) => k.key === "cust-42");
          assert.deepEqual(used, {
            path: "input.customerId",
            key: "cust-42",
            used: 1,
            limit: 1,
            waiting: 1,
          });
          const shown = await kagzi([
            "flow",
            "show",
            "held",
            "--address",
            server.url,
            "--output",
            "table",
          ]);
          assert.equal(shown.code, 0, shown.stderr);
          assert.match(shown.stdout, /concurrency input\.customerId ≤ 1 open/);
          assert.match(shown.stdout, /input\.customerId=cust-42\s+1\/1\s+1/);
          const json = (await kagzi(["flow", "show", "held", "--address", server.url])).json();
          assert.deepEqual(json.registrations[0].concurrency, [{
            key: "input.customerId",
            limit: 1,
          }]);
          await client.cancel(first.id);
          await waitFor(
            "the second run to take the slot",
            async () => (await client.get(second.id)).status === "RUNNING",
          );
          release();
          assert.equal(await second.result({ timeout: "30s" }), "done");
          assert.equal(await other.result({ timeout: "30s" }), "done");
        } finally {
          release();
          await w.shutdown();
          await r;
        }
      },
    );

    await t.step("bad keys are INVALID_ARGUMENT naming the path; nothing is stored", async () => {
      const keyed = defineWorkflow("keyed", () => Promise.resolve(1), {
        concurrency: [{ key: "input.items[0].id", limit: 2 }],
      });
      const w = await Worker.builder(server.url).workflow(keyed).build();
      try {
        const bad = async (input: unknown, pattern: RegExp) => {
          await assert.rejects(client.start(keyed).input(input), (e: KagziError) => {
            assert.equal(e.code, "INVALID_ARGUMENT");
            assert.match(e.message, pattern);
            return true;
          });
        };
        await bad({}, /concurrency key "input\.items\[0\]\.id" is missing from the input/);
        await bad({ items: [] }, /"input\.items\[0\]\.id" is missing/);
        await bad({ items: [{ id: { a: 1 } }] }, /is an object in the input/);
        await bad({ items: [{ id: [1] }] }, /is an array in the input/);
        await bad({ items: [{ id: null }] }, /is null in the input/);
        await bad({ items: [{ id: "x".repeat(300) }] }, /300 characters long; at most 256/);
        const listed = await client.list().type("keyed");
        assert.equal(listed.workflows.length, 0, "no run was stored");
        const ok = await client.start(keyed).input({ items: [{ id: 7 }] });
        assert.equal((await client.get(ok.id)).status === "FAILED", false);
      } finally {
        await w.shutdown();
      }
    });
  });
}
