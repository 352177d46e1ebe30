import assert from "node:assert/strict";
import { Kagzi, KagziError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

for (const backend of await backends()) {
  Deno.test(`WorkflowService on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);

    await t.step("20 concurrent identical starts make one run and 19 already_exists", async () => {
      const runs = await Promise.all(
        Array.from({ length: 20 }, () => client.start("order").input({ n: 1 }).id("order-20")),
      );
      assert.equal(new Set(runs.map((r) => r.id)).size, 1);
      assert.equal(runs.filter((r) => r.alreadyExists).length, 19);
      const page = await client.list().workflowId("order-20");
      assert.equal(page.workflows.length, 1);
    });

    await t.step("a started run is PENDING with its input, version and deadline", async () => {
      const deadline = new Date(Date.now() + 3_600_000);
      const run = await client.start("order").input({ items: ["a", "b"], total: 9.5 })
        .version("v7").deadline(deadline).context({ tenant: "acme" });
      assert.equal(run.alreadyExists, false);
      assert.match(run.workflowId, /^[0-9a-f-]{36}$/, "a server-generated workflow id");
      const w = await client.get(run.id);
      assert.equal(w.status, "PENDING");
      assert.equal(w.type, "order");
      assert.equal(w.version, "v7");
      assert.deepEqual(w.input, { items: ["a", "b"], total: 9.5 });
      assert.equal(w.deadlineAt?.getTime(), deadline.getTime());
      assert.equal(w.attempts, 1);
    });

    await t.step("starting a live workflow_id with another type is a CONFLICT", async () => {
      await client.start("a-type").id("shared-key");
      await assert.rejects(client.start("b-type").id("shared-key"), (e: KagziError) => {
        assert.equal(e.code, "CONFLICT");
        assert.match(e.message, /workflow_id/);
        return true;
      });
    });

    await t.step("250 runs page without duplicates or gaps, with filters", async () => {
      const ns = "paging";
      const made = new Map<string, string>();
      for (let i = 0; i < 250; i += 50) {
        const batch = await Promise.all(
          Array.from(
            { length: 50 },
            (_, j) =>
              client.start(`type-${(i + j) % 3}`).namespace(ns).input(i + j).id(`p-${i + j}`),
          ),
        );
        for (const [j, r] of batch.entries()) made.set(r.id, `type-${(i + j) % 3}`);
      }
      const seen: string[] = [];
      let token = "";
      let pages = 0;
      do {
        const page = await client.list().namespace(ns).pageSize(17).pageToken(token).withTotal();
        assert.equal(page.totalCount, 250);
        seen.push(...page.workflows.map((w) => w.id));
        token = page.nextPageToken;
        pages++;
      } while (token);
      assert.equal(pages, Math.ceil(250 / 17));
      assert.equal(seen.length, 250);
      assert.equal(new Set(seen).size, 250);
      assert.deepEqual(new Set(seen), new Set(made.keys()));

      const ones: string[] = [];
      for await (const w of client.list().namespace(ns).type("type-1").pageSize(10)) {
        assert.equal(w.type, "type-1");
        ones.push(w.id);
      }
      assert.equal(ones.length, [...made.values()].filter((t) => t === "type-1").length);
      assert.equal(new Set(ones).size, ones.length);

      const [victim] = ones;
      await client.cancel(victim).namespace(ns);
      const cancelled = await client.list().namespace(ns).status("CANCELLED");
      assert.deepEqual(cancelled.workflows.map((w) => w.id), [victim]);
      const pending = await client.list().namespace(ns).status("PENDING").withTotal();
      assert.equal(pending.totalCount, 249);
    });

    await t.step(
      "namespaces never mix: a run in a is invisible and uncancellable from b",
      async () => {
        const run = await client.start("secret").namespace("a").id("same-id");
        await assert.rejects(
          client.get(run.id).namespace("b"),
          (e: KagziError) => e.code === "NOT_FOUND",
        );
        await assert.rejects(
          client.cancel(run.id).namespace("b"),
          (e: KagziError) => e.code === "NOT_FOUND",
        );
        const inB = await client.list().namespace("b");
        assert.equal(inB.workflows.length, 0);
        const other = await client.start("secret").namespace("b").id("same-id");
        assert.equal(
          other.alreadyExists,
          false,
          "the same workflow_id is free in another namespace",
        );
        assert.equal((await client.get(run.id).namespace("a")).status, "PENDING");
      },
    );

    await t.step("cancel: PENDING → CANCELLED, again is idempotent, result() rejects", async () => {
      const run = await client.start("order").input(1);
      const waiting = assert.rejects(
        run.result({ timeout: "20s" }),
        (e: KagziError) =>
          e.name === "WorkflowCancelledError" && e.code === "CANCELLED" &&
          /customer asked/.test(e.message),
      );
      const w = await client.cancel(run.id).reason("customer asked");
      assert.equal(w.status, "CANCELLED");
      assert.ok(w.finishedAt);
      assert.match(w.error?.message ?? "", /customer asked/);
      assert.equal(w.error?.code, "CANCELLED", "a cancelled run's error code is CANCELLED");
      const again = await client.cancel(run.id);
      assert.equal(again.status, "CANCELLED");
      await waiting;
      const kept = await client.start("order").id(run.workflowId);
      assert.equal(kept.id, run.id, "a cancelled run keeps its workflow_id while retained");
      assert.equal(kept.alreadyExists, true);
      const fresh = await client.start("order").id(run.workflowId)
        .onDuplicate("allow-after-failure");
      assert.equal(fresh.alreadyExists, false, "allow-after-failure starts past a cancelled run");
    });

    await t.step("get and cancel of an unknown run are NOT_FOUND", async () => {
      const id = crypto.randomUUID();
      await assert.rejects(
        client.get(id),
        (e: KagziError) => e.code === "NOT_FOUND" && e.message.includes(id),
      );
      await assert.rejects(client.cancel(id), (e: KagziError) => e.code === "NOT_FOUND");
    });

    await t.step("health and server info", async () => {
      const h = await client.health();
      assert.equal(h.healthy, true);
      assert.equal(h.databaseOk, true);
      const info = await client.serverInfo();
      assert.equal(info.apiVersion, "v1");
      assert.equal(info.database, backend);
      assert.ok(info.features.includes("grpc"));
      await client.setDefaultVersion("versioned", "2");
      assert.equal((await client.serverInfo()).defaultVersions.versioned, "2");
      const run = await client.start("versioned");
      assert.equal((await client.get(run.id)).version, "2");
    });
  });
}

Deno.test("Kagzi.connect fails fast with a clear error when no server listens", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(Kagzi.connect(`http://127.0.0.1:${port}`), (e: KagziError) => {
    assert.equal(e.code, "UNAVAILABLE");
    assert.match(
      e.message,
      new RegExp(`Cannot reach the Kagzi server at http://127.0.0.1:${port}`),
    );
    return true;
  });
  await assert.rejects(
    Kagzi.connect("not a url"),
    (e: KagziError) => e.code === "INVALID_ARGUMENT",
  );
});
