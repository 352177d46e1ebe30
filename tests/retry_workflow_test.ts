import assert from "node:assert/strict";
import { type Context, Kagzi, type KagziError, Retry, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

for (const backend of await backends()) {
  Deno.test(`RetryWorkflow on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);

    await t.step(
      "a FAILED run retried after the outage ends completes as a new linked run",
      async () => {
        let outage = true; // what failed the first run: an outside service, fixed before the retry
        const charge = async (ctx: Context, input: { amount: number }) => {
          const receipt = await ctx.step("charge").retry(Retry.none()).run(() => {
            if (outage) throw new Error("payment service unavailable");
            return `paid ${input.amount}`;
          });
          return { receipt, attempt: ctx.attempt };
        };
        const worker = await Worker.builder(server.url).workflow("charge", charge, {
          version: "v3",
        }).build();
        const running = worker.run();
        try {
          const first = await client.start("charge").input({ amount: 42 }).id("order-7")
            .version("v3").context({ tenant: "acme" });
          await assert.rejects(first.result({ timeout: "30s" }), /payment service unavailable/);
          outage = false;

          const again = await client.retry<{ receipt: string }>(first.id);
          assert.notEqual(again.id, first.id);
          assert.equal(again.workflowId, "order-7");
          assert.equal(again.alreadyExists, false);
          assert.equal((await again.result({ timeout: "30s" })).receipt, "paid 42");

          const [oldRun, newRun] = [await client.get(first.id), await client.get(again.id)];
          assert.equal(oldRun.status, "FAILED", "the retried run is left as it was");
          assert.equal(oldRun.retriedFromRunId, undefined);
          assert.equal(newRun.status, "COMPLETED");
          assert.equal(newRun.retriedFromRunId, first.id);
          assert.equal(newRun.type, "charge");
          assert.equal(newRun.version, "v3");
          assert.deepEqual(newRun.input, { amount: 42 });
          assert.equal(newRun.attempts, 1);
          const steps = await client.listSteps(again.id);
          assert.deepEqual(steps.map((s) => [s.name, s.status]), [["charge", "COMPLETED"]]);
        } finally {
          await worker.shutdown();
          await running;
        }
      },
    );

    await t.step(
      "a CANCELLED run retries with its input and context; the copy is PENDING",
      async (t) => {
        const run = await client.start("later").input({ n: 1 }).context({ who: "ana" });
        await client.cancel(run.id);
        const again = await client.retry(run.id);
        const w = await client.get(again.id);
        assert.equal(w.status, "PENDING");
        assert.equal(w.workflowId, run.workflowId);
        assert.deepEqual(w.input, { n: 1 });
        assert.equal(w.retriedFromRunId, run.id);
        const listed = await client.list().workflowId(run.workflowId);
        assert.deepEqual(listed.workflows.map((x) => x.id), [again.id, run.id]);
        assert.equal(listed.workflows[0].retriedFromRunId, run.id);

        await t.step(
          "retrying it again while the copy is open is a CONFLICT naming the copy",
          async () => {
            await assert.rejects(client.retry(run.id), (e: KagziError) => {
              assert.equal(e.code, "CONFLICT");
              assert.match(e.message, new RegExp(`PENDING run "${again.id}"`));
              return true;
            });
          },
        );
        await client.cancel(again.id);
      },
    );

    await t.step("an open run is PRECONDITION_FAILED naming its status", async () => {
      const run = await client.start("later").input({});
      await assert.rejects(client.retry(run.id), (e: KagziError) => {
        assert.equal(e.code, "PRECONDITION_FAILED");
        assert.match(e.message, /is PENDING; only COMPLETED, FAILED or CANCELLED/);
        assert.equal(e.subjectId, run.id);
        return true;
      });
      await client.cancel(run.id);
    });

    await t.step("unknown, other-namespace and malformed run ids are refused clearly", async () => {
      const unknown = crypto.randomUUID();
      await assert.rejects(client.retry(unknown), (e: KagziError) => e.code === "NOT_FOUND");
      const run = await client.start("later").input({});
      await client.cancel(run.id);
      await assert.rejects(
        client.retry(run.id, { namespace: "other" }),
        (e: KagziError) => e.code === "NOT_FOUND",
      );
      await assert.rejects(client.retry("not-a-uuid"), (e: KagziError) => {
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.equal(e.subject, "run_id");
        return true;
      });
    });
  });
}
