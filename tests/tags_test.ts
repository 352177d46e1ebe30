/**
 * Run tags on both backends with real server processes: set at start, kept by a retry, listed
 * with `list().tag()` (every tag must match) and `kagzi run list --tag`; bad tag maps are
 * refused naming the field. On Postgres, the tag filter's plan over 100,000 runs uses the GIN
 * index (printed with its time).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { type Context, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { kagzi } from "./_cli.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { listRunsParams, listRunsSql, type RunFilter } from "../server/store/runs.ts";

const invalidTags = (e: KagziError) => {
  assert.equal(e.code, "INVALID_ARGUMENT");
  assert.equal(e.subject, "tags");
  return true;
};

for (const backend of await backends()) {
  Deno.test(`run tags on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);

    await t.step("tags are stored at start and filter list()", async () => {
      const a = await client.start("later").input({}).tags({ customer: "42", plan: "pro" });
      const b = await client.start("later").input({}).tags({ customer: "42", plan: "free" });
      await client.start("later").input({}).tags({ customer: "7" });
      await client.start("later").input({});
      assert.deepEqual((await client.get(a.id)).tags, { customer: "42", plan: "pro" });
      const ids = async (call: ReturnType<Kagzi["list"]>) =>
        (await call).workflows.map((w) => w.id).sort();
      assert.deepEqual(await ids(client.list().tag("customer", "42")), [a.id, b.id].sort());
      assert.deepEqual(await ids(client.list().tag("customer", "42").tag("plan", "pro")), [a.id]);
      assert.deepEqual(await ids(client.list().tag("customer", "nobody")), []);
      const listed = (await client.list().tag("plan", "free")).workflows;
      assert.deepEqual(listed[0].tags, { customer: "42", plan: "free" });
      await client.cancel(a.id);
      const again = await client.retry(a.id);
      assert.deepEqual((await client.get(again.id)).tags, { customer: "42", plan: "pro" });
      await client.cancel(again.id);
    });

    await t.step("ctx.setTags merges into the run's tags once, across a replay", async () => {
      const ship = async (ctx: Context) => {
        await ctx.step("pack").run(() => "packed");
        await ctx.setTags({ stage: "shipped" });
        await ctx.sleep("nap", "50ms"); // suspends: the run replays from the top after it
        await assert.rejects(ctx.setTags({ ["x".repeat(65)]: "v" }), /1-64 characters/);
        return "done";
      };
      const worker = await Worker.builder(server.url).holdSleeps(0).workflow("ship", ship).build();
      const running = worker.run();
      try {
        const run = await client.start("ship").input({}).tags({ customer: "42" });
        assert.equal(await run.result({ timeout: "30s" }), "done");
        assert.deepEqual((await client.get(run.id)).tags, { customer: "42", stage: "shipped" });
        const steps = await client.listSteps(run.id);
        assert.deepEqual(steps.filter((s) => s.name === "kagzi:tags").length, 1);
        assert.deepEqual(
          (await client.list().tag("stage", "shipped")).workflows.map((w) => w.id),
          [run.id],
        );
      } finally {
        await worker.shutdown();
        await running;
      }
    });

    await t.step("kagzi run start --tags and run list --tag", async () => {
      const started = await kagzi([
        ...["--address", server.url, "run", "start", "later"],
        ...["--tags", "region=eu,tier=gold"],
      ]);
      assert.equal(started.code, 0, started.stderr);
      const listed = await kagzi(["--address", server.url, "run", "list", "--tag", "tier=gold"]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(listed.json().map((w: { runId: string }) => w.runId), [
        started.json().runId,
      ]);
      const bad = await kagzi(["--address", server.url, "run", "list", "--tag", "tier"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Invalid --tag "tier"/);
    });

    await t.step("huge, long, empty and NUL tags are refused naming the field", async () => {
      const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]));
      await assert.rejects(client.start("later").tags(many), invalidTags);
      await assert.rejects(client.start("later").tags({ ["k".repeat(65)]: "v" }), invalidTags);
      await assert.rejects(client.start("later").tags({ k: "v".repeat(257) }), invalidTags);
      await assert.rejects(client.start("later").tags({ "": "v" }), invalidTags);
      await assert.rejects(client.start("later").tags({ k: "a\u0000b" }), (e: KagziError) => {
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.match(e.subject ?? "", /^tags/);
        return true;
      });
      await assert.rejects(client.list().tag("k", "\u0001"), invalidTags);
    });

    if (backend !== "postgres") return;
    await t.step("a tag filter over 100,000 runs uses the GIN index", async () => {
      const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`
          insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version,
                                  status, tags)
          select 'bulk', gen_random_uuid(), 'w-' || n, 'later', '', 'COMPLETED',
                 jsonb_build_object('customer', (n % 10000)::text, 'plan',
                                    case when n % 2 = 0 then 'pro' else 'free' end)
          from generate_series(1, 100000) n`);
        await sql.unsafe(`analyze kagzi_runs`);
        // Ten times: a prepared statement's generic plan (from the sixth run on) must still
        // use the index; the slowest call is reported.
        let ms = 0;
        for (let i = 0; i < 10; i++) {
          const started = performance.now();
          const page = await client.list().namespace("bulk").tag("customer", String(4242 + i))
            .pageSize(50);
          ms = Math.max(ms, performance.now() - started);
          assert.equal(page.workflows.length, 10);
        }
        // The server's own statement, planned as a prepared statement's generic plan would be.
        const filter: RunFilter = {
          namespaceId: "bulk",
          status: null,
          workflowType: "",
          workflowId: "",
          scheduleId: "",
          version: null,
          parentRunId: "",
          tags: { customer: "4242" },
        };
        const params = listRunsParams(filter, null, 51).map((p) =>
          p === null
            ? "null"
            : typeof p === "number"
            ? String(p)
            : `'${JSON.stringify(p).replace(/^"|"$/g, "")}'`
        );
        const [plan] = await sql.begin(async (tx) => {
          await tx.unsafe(`set local plan_cache_mode = force_generic_plan`);
          await tx.unsafe(`prepare listing as ${listRunsSql(filter)}`);
          const rows = await tx.unsafe(`explain analyze execute listing(${params.join(", ")})`);
          await tx.unsafe(`deallocate listing`);
          return [rows];
        });
        const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
        console.log(
          `list().tag() over 100,000 runs: slowest of 10 ${ms.toFixed(1)} ms end to end\n${text}`,
        );
        assert.match(text, /kagzi_runs_tags/);
      } finally {
        await sql.end({ timeout: 1 });
      }
    });
  });
}
