/**
 * Events on real server processes (two replicas on Postgres, one embedded): an emit starts one
 * run of every type subscribed to the event, with the data as input; the same id emitted again
 * (on either replica, or at once) starts nothing; a type registered after an emit is not
 * started by it; a registration that declares triggers sets the type's subscriptions.
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const echo = (tag: string) => (_ctx: Context, input: unknown) => Promise.resolve({ tag, input });
const emailReceipt = defineWorkflow("email-receipt", echo("email"), {
  triggers: [{ event: "order.created" }],
});
const updateCrm = defineWorkflow("update-crm", echo("crm"), {
  triggers: [{ event: "order.created" }, { event: "customer.updated" }],
});

async function runsOf(client: Kagzi, type: string, namespace?: string): Promise<string[]> {
  const ids: string[] = [];
  const list = client.list().type(type);
  for await (const w of namespace ? list.namespace(namespace) : list) ids.push(w.id);
  return ids.sort();
}

for (const backend of await backends()) {
  Deno.test(`an event starts each subscribed type once per event id; later types are not started by old events (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    // Postgres: a second replica on the same database; embedded: the one server.
    const other = backend === "postgres" ? await server.restart() : server;
    const a = await Kagzi.connect(server.url);
    const b = await Kagzi.connect(other.url);
    const worker = await Worker.builder(server.url).workflows([emailReceipt, updateCrm])
      .workflow("no-triggers", echo("none")).logger(false).build();
    const running = worker.run();
    try {
      await t.step(
        "fan-out: one run per subscribed type, the data as each one's input",
        async () => {
          const e = await a.emit("order.created", { orderId: "o-1" }, { id: "evt-o-1" });
          assert.equal(e.alreadyExists, false);
          assert.equal(e.id, "evt-o-1");
          assert.deepEqual(e.runs.map((r) => r.workflowType), ["email-receipt", "update-crm"]);
          for (const r of e.runs) {
            const out = await a.handle(r.runId).result({ timeout: "30s" });
            assert.deepEqual((out as { input: unknown }).input, { orderId: "o-1" });
          }
          assert.deepEqual(await runsOf(a, "no-triggers"), []);
        },
      );

      await t.step(
        "the same id again, on the other replica and at once, starts nothing",
        async () => {
          const first = (await a.listEvents({ name: "order.created" })).events[0];
          const again = await Promise.all(
            Array.from(
              { length: 6 },
              (_, i) =>
                (i % 2 ? a : b).emit("order.created", { orderId: "changed" }, { id: "evt-o-1" }),
            ),
          );
          for (const e of again) {
            assert.equal(e.alreadyExists, true);
            assert.deepEqual(e.runs, first.runs);
            assert.deepEqual(e.data, { orderId: "o-1" }, "the first emit's data is kept");
          }
          assert.equal((await runsOf(a, "email-receipt")).length, 1);
          assert.equal((await runsOf(a, "update-crm")).length, 1);
        },
      );

      await t.step("concurrent emits of one new id on both replicas start one set", async () => {
        const all = await Promise.all(
          Array.from(
            { length: 8 },
            (_, i) => (i % 2 ? a : b).emit("customer.updated", { c: 1 }, { id: "evt-c-1" }),
          ),
        );
        assert.equal(all.filter((e) => !e.alreadyExists).length, 1);
        assert.equal(new Set(all.map((e) => e.runs[0].runId)).size, 1);
        assert.equal((await runsOf(a, "update-crm")).length, 2);
      });

      await t.step("a type registered after an emit is not started by it", async () => {
        const late = await Worker.builder(other.url).workflow("late-type", echo("late"), {
          triggers: [{ event: "order.created" }],
        }).logger(false).build();
        try {
          assert.deepEqual(await runsOf(a, "late-type"), []);
          const old = await b.emit("order.created", {}, { id: "evt-o-1" });
          assert.equal(old.runs.length, 2, "the old event still names its two runs");
          assert.deepEqual(await runsOf(a, "late-type"), []);
          const fresh = await b.emit("order.created", { orderId: "o-2" }, { id: "evt-o-2" });
          assert.deepEqual(fresh.runs.map((r) => r.workflowType), [
            "email-receipt",
            "late-type",
            "update-crm",
          ]);
          assert.deepEqual(await runsOf(a, "late-type"), [fresh.runs[1].runId]);
        } finally {
          await late.shutdown();
        }
      });

      await t.step("listEvents shows each event with what it started, newest first", async () => {
        const page = await a.listEvents({ pageSize: 2 });
        assert.deepEqual(page.events.map((e) => e.id), ["evt-o-2", "evt-c-1"]);
        const next = await a.listEvents({ pageSize: 2, pageToken: page.nextPageToken });
        assert.deepEqual(next.events.map((e) => e.id), ["evt-o-1"]);
        assert.equal(next.nextPageToken, "");
        assert.equal(next.events[0].runs.length, 2);
      });

      await t.step("an emit without an id is a new event each time", async () => {
        const x = await a.emit("order.created", { n: 1 });
        const y = await a.emit("order.created", { n: 1 });
        assert.notEqual(x.id, y.id);
        assert.equal(x.alreadyExists || y.alreadyExists, false);
        assert.equal(x.runs.length, 3);
      });

      await t.step("an event no type subscribes to is stored and starts nothing", async () => {
        const e = await a.emit("nobody.listens", [1, 2], { id: "n-1" });
        assert.deepEqual(e.runs, []);
        assert.deepEqual((await a.listEvents({ name: "nobody.listens" })).events[0].data, [1, 2]);
      });

      await t.step("namespaces do not mix", async () => {
        const e = await a.emit("order.created", {}, { id: "evt-o-1", namespace: "elsewhere" });
        assert.equal(e.alreadyExists, false);
        assert.deepEqual(e.runs, []);
        assert.deepEqual(await a.listEventSubscriptions({ namespace: "elsewhere" }), []);
      });

      await t.step(
        "a registration that declares triggers sets them; one without keeps them",
        async () => {
          const subs = async () =>
            (await a.listEventSubscriptions()).map((s) => `${s.event}>${s.workflowType}`);
          assert.deepEqual(await subs(), [
            "customer.updated>update-crm",
            "order.created>email-receipt",
            "order.created>late-type",
            "order.created>update-crm",
          ]);
          const w2 = await Worker.builder(server.url)
            .workflow("email-receipt", echo("v2"), { triggers: [{ event: "order.paid" }] })
            .workflow("update-crm", echo("plain"))
            .logger(false).build();
          await w2.shutdown();
          assert.deepEqual(await subs(), [
            "customer.updated>update-crm",
            "order.created>late-type",
            "order.created>update-crm",
            "order.paid>email-receipt",
          ]);
          assert.equal(await a.deleteEventSubscription("order.created", "late-type"), true);
          assert.equal(await a.deleteEventSubscription("order.created", "late-type"), false);
          const e = await a.emit("order.created", {}, { id: "evt-o-3" });
          assert.deepEqual(e.runs.map((r) => r.workflowType), ["update-crm"]);
        },
      );

      await t.step("the runs an event starts obey their type's flow control", async () => {
        const held = (ctx: Context) => ctx.waitForSignal("go");
        const w = await Worker.builder(server.url).workflow("sync-customer", held, {
          triggers: [{ event: "customer.synced" }],
          concurrency: [{ key: "input.customerId", limit: 1 }],
        }).logger(false).build();
        const going = w.run();
        try {
          const one = await a.emit("customer.synced", { customerId: "c1" });
          const two = await b.emit("customer.synced", { customerId: "c1" });
          const first = one.runs[0].runId;
          const second = two.runs[0].runId;
          await waitFor("the first run to wait", async () => (await a.get(first)).waits.length > 0);
          // The second is due until a claim finds its slot taken (the worker's next poll).
          await waitFor(
            "the second run to wait for the slot",
            async () => (await a.get(second)).waitingFor?.kind === "concurrency",
          );
          const waiting = await a.get(second);
          assert.equal(waiting.status, "PENDING");
          assert.equal(waiting.waitingFor?.kind, "concurrency");
          assert.equal(waiting.waitingFor?.key, "c1");
          await a.signal(first, "go");
          await waitFor(
            "the second run to wait",
            async () => (await a.get(second)).waits.length > 0,
          );
          await a.signal(second, "go");
          await a.handle(second).result({ timeout: "30s" });
        } finally {
          await w.shutdown();
          await going;
        }
      });

      await t.step(
        "bad input is INVALID_ARGUMENT naming the field, and stores nothing",
        async () => {
          const before = (await a.listEvents()).events.length;
          await assert.rejects(a.emit("", {}), (e: KagziError) => {
            assert.equal(e.code, "INVALID_ARGUMENT");
            assert.equal(e.subject, "name");
            return true;
          });
          await assert.rejects(a.emit("x", {}, { id: "a\u0001b" }), (e: KagziError) => {
            assert.equal(e.code, "INVALID_ARGUMENT");
            assert.equal(e.subject, "event_id");
            return true;
          });
          await assert.rejects(
            Worker.builder(server.url).workflow("t", echo("t"), { triggers: [{ event: "a\nb" }] })
              .logger(false).build(),
            (e: KagziError) => {
              assert.equal(e.code, "INVALID_ARGUMENT");
              assert.match(e.message, /workflow_types\[0\]\.triggers\[0\]\.event/);
              return true;
            },
          );
          assert.throws(
            () => defineWorkflow("t", echo("t"), { triggers: [{ event: "" }] }),
            /triggers\[0\]\.event must be a non-empty string/,
          );
          assert.equal((await a.listEvents()).events.length, before);
        },
      );
      await t.step("figures: 100 emits fanning out to 2 types (logged, not asserted)", async () => {
        const w = await Worker.builder(server.url).logger(false)
          .workflow("fig-a", echo("a"), { triggers: [{ event: "figures.event" }] })
          .workflow("fig-b", echo("b"), { triggers: [{ event: "figures.event" }] }).build();
        await w.shutdown();
        const ms: number[] = [];
        for (let i = 0; i < 100; i++) {
          const t0 = performance.now();
          assert.equal((await b.emit("figures.event", { i })).runs.length, 2);
          ms.push(performance.now() - t0);
        }
        ms.sort((x, y) => x - y);
        console.log(`emit (${backend}): p50 ${ms[49].toFixed(1)} ms, p99 ${ms[98].toFixed(1)} ms`);
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}

for (const backend of await backends()) {
  Deno.test(`events are deleted once their namespace's retention has passed; the id is then new (${backend})`, async () => {
    await using server = await startTestServer(backend, {
      args: ["--retention", "2s", "--retention-namespaces", "kept=off"],
    });
    const client = await Kagzi.connect(server.url);
    await client.emit("tick", 1, { id: "r-1" });
    await client.emit("tick", 1, { id: "r-1", namespace: "kept" });
    await waitFor(
      "the event to expire",
      async () => (await client.listEvents()).events.length === 0,
      30_000,
    );
    assert.equal((await client.listEvents({ namespace: "kept" })).events.length, 1);
    const again = await client.emit("tick", 2, { id: "r-1" });
    assert.equal(again.alreadyExists, false);
    assert.equal(again.data, 2);
  });
}
