/**
 * Result waits multiplexed (issue 26), on both backends and over Connect, gRPC-Web and gRPC:
 * the pending `result()` calls of one client share a few WaitRuns long polls, not a GetWorkflow
 * each; every result is its own run's; a failed, cancelled, unknown or malformed run fails only
 * its own wait; a wait's timeout is its own; WaitRuns refuses bad input naming the field.
 */
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { WorkflowService, WorkflowStatus } from "@kagzi/proto";
import { type Context, Kagzi, KagziError, Retry, Worker, WorkflowFailedError } from "@kagzi/sdk";
import "@kagzi/sdk/grpc";
import postgres from "postgres";
import { backends } from "./_db.ts";
import { inFlight, metricSum } from "./_metrics.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

async function double(ctx: Context, input: { i: number; fail?: boolean }) {
  const a = await ctx.step("a").run(() => input.i);
  if (input.fail) {
    await ctx.step("boom").retry(Retry.attempts(1)).run(() => {
      throw new Error(`failed on purpose ${input.i}`);
    });
  }
  return await ctx.step("b").run(() => ({ i: input.i, twice: a * 2 }));
}

const rpcs = (url: string, method: string) =>
  metricSum(url, "kagzi_rpc_duration_seconds_count", { method });

for (const backend of await backends()) {
  Deno.test(`result waits share WaitRuns calls on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const raw = createClient(
      WorkflowService,
      createConnectTransport({ baseUrl: server.url, useBinaryFormat: true }),
    );

    await t.step("200 pending results are a few WaitRuns, each result its own run's", async () => {
      // No worker yet: every run stays open while all 200 waits are pending.
      const runs = await Promise.all(
        Array.from({ length: 200 }, (_, i) => client.start("double").input({ i })),
      );
      const getsBefore = await rpcs(server.url, "GetWorkflow");
      // Half through the start's handle, half through a handle made from the run id.
      const results = runs.map((r, i) => (i % 2 ? client.handle(r.id) : r).result());
      await waitFor(
        "the waits to reach the server",
        async () => await inFlight(server.url, "WaitRuns") > 0,
      );
      const waiting = await inFlight(server.url, "WaitRuns");
      assert.ok(waiting <= 4, `${waiting} WaitRuns in flight for 200 results`);
      assert.equal(await inFlight(server.url, "GetWorkflow"), 0);
      const worker = await Worker.builder(server.url).maxConcurrent(50).workflow("double", double)
        .build();
      const running = worker.run();
      try {
        const outs = await Promise.all(results);
        outs.forEach((o, i) => assert.deepEqual(o, { i, twice: 2 * i }));
        assert.equal(await rpcs(server.url, "GetWorkflow"), getsBefore);
      } finally {
        await worker.shutdown();
        await running;
      }
    });

    await t.step(
      "a failed, cancelled, unknown or malformed run fails its own wait only",
      async () => {
        const worker = await Worker.builder(server.url).workflow("double", double).build();
        const running = worker.run();
        try {
          const ok = await client.start("double").input({ i: 7 });
          const bad = await client.start("double").input({ i: 8, fail: true });
          const idle = await client.start("nobody-serves-this");
          // All in one tick: one WaitRuns names them all.
          const waits = [
            ok.result(),
            bad.result(),
            idle.result(),
            client.handle(crypto.randomUUID()).result(),
            client.handle("not-a-uuid").result(),
          ].map((p) => p.then((v) => ({ v }), (e) => ({ e })));
          await idle.cancel({ reason: "not served" });
          const [a, b, c, d, e] = await Promise.all(waits);
          assert.deepEqual(a, { v: { i: 7, twice: 14 } });
          assert.ok("e" in b && b.e instanceof WorkflowFailedError, String("e" in b && b.e));
          assert.match(String("e" in b && b.e), /failed on purpose 8/);
          assert.ok("e" in c && /not served/.test(String(c.e)), String("e" in c && c.e));
          assert.ok("e" in d && d.e instanceof KagziError && d.e.code === "NOT_FOUND");
          assert.ok("e" in e && e.e instanceof KagziError);
          assert.equal(e.e.code, "INVALID_ARGUMENT");
          assert.equal(e.e.subject, "run_id");
        } finally {
          await worker.shutdown();
          await running;
        }
      },
    );

    await t.step("a wait's timeout and abort are its own", async () => {
      const run = await client.start("nobody-serves-this");
      const other = await client.start("nobody-serves-this");
      const longer = other.result({ timeout: "20s" });
      await assert.rejects(run.result({ timeout: "300ms" }), (e: KagziError) => {
        assert.equal(e.code, "TIMEOUT");
        return true;
      });
      const ac = new AbortController();
      const aborted = run.result({ signal: ac.signal });
      ac.abort(new Error("caller gave up"));
      await assert.rejects(aborted, /caller gave up/);
      await other.cancel();
      await assert.rejects(longer, /Cancelled|cancelled/);
    });

    await t.step("results over gRPC-Web and native gRPC", async () => {
      const worker = await Worker.builder(server.url).workflow("double", double).build();
      const running = worker.run();
      try {
        for (
          const c of [
            await Kagzi.connect(server.url, { protocol: "grpc-web" }),
            await Kagzi.connect(server.grpcUrl, { protocol: "grpc" }),
          ]
        ) {
          const runs = await Promise.all([1, 2, 3].map((i) => c.start("double").input({ i })));
          const outs = await Promise.all(runs.map((r) => r.result({ timeout: "30s" })));
          assert.deepEqual(outs, [1, 2, 3].map((i) => ({ i, twice: 2 * i })));
        }
      } finally {
        await worker.shutdown();
        await running;
      }
    });

    await t.step(
      "WaitRuns refuses bad input naming the field; answers empty on timeout",
      async () => {
        for (const runIds of [[], Array.from({ length: 1001 }, () => crypto.randomUUID())]) {
          await assert.rejects(
            raw.waitRuns({ namespace: "default", runIds }),
            (e: Error) => /run_ids/.test(e.message) && /invalid_argument/i.test(String(e)),
          );
        }
        const open = await client.start("nobody-serves-this");
        const res = await raw.waitRuns({
          namespace: "default",
          runIds: [open.id, open.id.toUpperCase()],
          timeout: durationFromMs(200),
        });
        assert.deepEqual(res.ended, []);
        await open.cancel();
        const ended = await raw.waitRuns({
          namespace: "default",
          runIds: [open.id, open.id.toUpperCase()],
        });
        assert.deepEqual(
          ended.ended.map((o) => [o.runId, o.status]).sort(),
          [
            [open.id, WorkflowStatus.CANCELLED],
            [open.id.toUpperCase(), WorkflowStatus.CANCELLED],
          ].sort(),
        );
      },
    );

    if (server.databaseUrl) {
      await t.step(
        "an end no server announces is still found (read again within 5 s)",
        async () => {
          const run = await client.start("nobody-serves-this");
          // Found open: the next WaitRuns trusts that until an end is announced…
          const first = await raw.waitRuns({
            namespace: "default",
            runIds: [run.id],
            timeout: durationFromMs(100),
          });
          assert.deepEqual(first.ended, []);
          // …and this end is not (as when the database's trigger cancels a child).
          const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
          try {
            await sql`update kagzi_runs set status = 'CANCELLED', finished_at = now()
                    where run_id = ${run.id}`;
          } finally {
            await sql.end();
          }
          const later = await raw.waitRuns({
            namespace: "default",
            runIds: [run.id],
            timeout: durationFromMs(15_000),
          });
          assert.deepEqual(later.ended.map((o) => o.status), [WorkflowStatus.CANCELLED]);
        },
      );
    }
  });
}
