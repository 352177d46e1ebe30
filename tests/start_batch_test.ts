/**
 * Starts sent together (issue 26), on both backends: the starts one client makes at the same
 * moment travel in StartWorkflows calls, each answered as its own StartWorkflow would be; a bad
 * start fails alone with the very error it fails with alone; StartWorkflows refuses bad input
 * naming the field; and when the database drops every connection (Postgres) or the server is
 * killed -9 and restarted (embedded) while batches are in flight, every start still resolves to
 * exactly one stored run.
 */
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ErrorCode, WorkflowService } from "@kagzi/proto";
import { type Context, Kagzi, KagziError, Worker } from "@kagzi/sdk";
import { backends, dropEveryConnection } from "./_db.ts";
import { metricSum } from "./_metrics.ts";
import { startTestServer } from "./_server.ts";

async function echo(ctx: Context, input: { i: number }) {
  return await ctx.step("a").run(() => ({ i: input.i, twice: input.i * 2 }));
}

const calls = (url: string, method: string) =>
  metricSum(url, "kagzi_rpc_duration_seconds_count", { method });

/** Settles to the start's error (a KagziError), or throws when it did not fail. */
async function failure(p: Promise<unknown>): Promise<KagziError> {
  try {
    await p;
  } catch (err) {
    return KagziError.from(err);
  }
  throw new Error("the start did not fail");
}

for (const backend of await backends()) {
  Deno.test(`starts made together share StartWorkflows calls on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);

    await t.step("120 starts at once are two calls, each run its own", async () => {
      const [batchesBefore, singlesBefore] = [
        await calls(server.url, "StartWorkflows"),
        await calls(server.url, "StartWorkflow"),
      ];
      const runs = await Promise.all(
        Array.from({ length: 120 }, (_, i) => client.start("echo").input({ i })),
      );
      assert.equal(await calls(server.url, "StartWorkflows") - batchesBefore, 2);
      assert.equal(await calls(server.url, "StartWorkflow") - singlesBefore, 0);
      assert.equal(new Set(runs.map((r) => r.id)).size, 120, "120 distinct runs");
      assert.equal(new Set(runs.map((r) => r.workflowId)).size, 120, "120 distinct ids");
      const worker = await Worker.builder(server.url).maxConcurrent(50).workflow("echo", echo)
        .build();
      const running = worker.run();
      try {
        const outs = await Promise.all(runs.map((r) => r.result()));
        outs.forEach((o, i) => assert.deepEqual(o, { i, twice: 2 * i }));
      } finally {
        await worker.shutdown();
        await running;
      }
    });

    await t.step("a start alone is a StartWorkflow", async () => {
      const batchesBefore = await calls(server.url, "StartWorkflows");
      const singlesBefore = await calls(server.url, "StartWorkflow");
      await client.start("echo").input({ i: 1 });
      assert.equal(await calls(server.url, "StartWorkflow") - singlesBefore, 1);
      assert.equal(await calls(server.url, "StartWorkflows"), batchesBefore);
    });

    await t.step("a bad start fails alone, with the error it fails with alone", async () => {
      await client.start("echo").id("taken").input({ i: 0 });
      const past = new Date(Date.now() - 60_000);
      const bad = [
        () => client.start("echo").id("nul\u0000id"),
        () => client.start("echo").deadline(past),
        () => client.start("echo").id("taken").onDuplicate("fail"),
        () =>
          client.start("echo").tags(Object.fromEntries(
            Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"]),
          )),
        () => client.start("echo").signal("bad\u0000signal"),
      ];
      for (const [n, make] of bad.entries()) {
        const alone = await failure(make());
        const batchesBefore = await calls(server.url, "StartWorkflows");
        const [good1, together, good2] = await Promise.allSettled([
          client.start("echo").input({ i: 10 + n }),
          make(),
          client.start("echo").input({ i: 20 + n }),
        ]);
        assert.equal(await calls(server.url, "StartWorkflows") - batchesBefore, 1, `case ${n}`);
        assert.equal(good1.status, "fulfilled", `case ${n}: the start before it started`);
        assert.equal(good2.status, "fulfilled", `case ${n}: the start after it started`);
        assert.equal(together.status, "rejected", `case ${n}: it failed in the batch too`);
        const e = KagziError.from(together.reason);
        assert.deepEqual(
          { code: e.code, subject: e.subject, subjectId: e.subjectId, message: e.message },
          {
            code: alone.code,
            subject: alone.subject,
            subjectId: alone.subjectId,
            message: alone.message,
          },
          `case ${n}: the same error as alone`,
        );
      }
    });

    await t.step("StartWorkflows refuses bad input naming the field", async () => {
      const raw = createClient(
        WorkflowService,
        createConnectTransport({ baseUrl: server.url, useBinaryFormat: true }),
      );
      const item = (i: number) => ({ workflowType: "echo", workflowId: `raw-${i}` });
      await assert.rejects(
        () => raw.startWorkflows({ namespace: "default", items: [] }),
        (e: unknown) => KagziError.from(e).subject === "items",
      );
      await assert.rejects(
        () =>
          raw.startWorkflows({
            namespace: "default",
            items: Array.from({ length: 1001 }, (_, i) => item(i)),
          }),
        (e: unknown) => KagziError.from(e).subject === "items",
      );
      await assert.rejects(
        () => raw.startWorkflows({ namespace: "bad namespace!", items: [item(0)] }),
        (e: unknown) => KagziError.from(e).subject === "namespace",
      );
      const { results } = await raw.startWorkflows({
        namespace: "default",
        items: [item(1), { ...item(2), namespace: "other" }, { workflowType: "" }, item(3)],
      });
      assert.equal(results.length, 4);
      assert.equal(results[0].result.case, "started");
      assert.equal(results[3].result.case, "started");
      const [ns, type] = [results[1].result, results[2].result];
      assert.ok(ns.case === "error" && type.case === "error");
      assert.equal(ns.value.code, ErrorCode.INVALID_ARGUMENT);
      assert.equal(ns.value.subject, "namespace");
      assert.equal(type.value.code, ErrorCode.INVALID_ARGUMENT);
      assert.equal(type.value.subject, "workflow_type");
      // The refused items stored nothing; the others did.
      assert.equal((await client.list().workflowId("raw-2").pageSize(10)).workflows.length, 0);
      assert.equal((await client.list().workflowId("raw-3").pageSize(10)).workflows.length, 1);
    });
  });

  Deno.test(
    `batched starts through a ${
      backend === "postgres" ? "dropped database" : "server killed -9"
    } each resolve to one stored run (${backend})`,
    async () => {
      await using server = await startTestServer(backend);
      const client = await Kagzi.connect(server.url);
      const total = 400;
      let next = 0;
      let batched = 0;
      const started: { id: string; workflowId: string }[] = [];
      // 50 starts in flight, as a busy client makes them: they travel in batches.
      const load = Promise.all(Array.from({ length: 50 }, async () => {
        while (next < total) {
          next++;
          const run = await client.start("echo").input({ i: next });
          started.push({ id: run.id, workflowId: run.workflowId });
        }
      }));
      while (started.length < 60) await new Promise((r) => setTimeout(r, 5));
      batched = await calls(server.url, "StartWorkflows");
      const startedAtFault = started.length;
      if (backend === "postgres") {
        await dropEveryConnection(server.databaseUrl);
      } else {
        server.kill("SIGKILL");
        await server.status;
        // Disposing the test server stops this one too.
        await server.restart({ port: server.port, grpcPort: server.grpcPort });
      }
      await load;
      assert.ok(startedAtFault < total, "the fault came while starts were being made");
      assert.ok(batched > 0, "the starts went in StartWorkflows calls");
      assert.equal(started.length, total, "every start resolved");
      assert.equal(new Set(started.map((s) => s.id)).size, total, "each its own run");
      const stored = new Map<string, string[]>();
      for await (const w of client.list().type("echo").pageSize(500)) {
        stored.set(w.workflowId, [...stored.get(w.workflowId) ?? [], w.id]);
      }
      for (const s of started) {
        assert.deepEqual(stored.get(s.workflowId), [s.id], `one stored run for ${s.workflowId}`);
      }
      assert.equal(stored.size, total, "no run stored that no start returned");
    },
  );
}
