/**
 * Step outputs that travel with the completion (CompleteWorkflowRequest.steps): a workflow that
 * returns right after its last step stores that step's output in the completion's commit (one
 * call and one commit less per run), while every other output is stored before anything else
 * of the run happens. With the SDK's worker against a real server process; over the raw wire
 * (lost lease, a step stored before, a paused run, bad input, a Report of several); on Postgres,
 * that it is one commit, and through a database that drops every connection.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Context, Kagzi, NonRetryableError, Worker } from "@kagzi/sdk";
import { backends, dropEveryConnection } from "./_db.ts";
import {
  badStepLists,
  type Claimed,
  json,
  rawWorker,
  refusedCarries,
  stepOutput,
  workerRpc,
} from "./_raw.ts";
import { startTestServer } from "./_server.ts";

const failed = (code: Code, re: RegExp) => (e: ConnectError) =>
  e.code === code && re.test(e.rawMessage);

for (const backend of await backends()) {
  Deno.test(`step outputs travel with the completion (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const rpc = workerRpc(server.url);
    const stored = async (runId: string) =>
      (await client.handle(runId).steps()).filter((s) => s.kind === "function")
        .map((s) => `${s.name}:${s.status}:${JSON.stringify(s.output)}`);

    await t.step(
      "the last output goes with the completion; the others before the next step",
      async () => {
        const seenByB: string[][] = [];
        const worker = await Worker.builder(server.url).logger(false)
          .workflow("three", async (ctx: Context, n: number) => {
            const a = await ctx.step("a").run(() => n + 1);
            const b = await ctx.step("b").run(async () => {
              // Step b runs only once a's output is stored.
              seenByB.push(await stored(ctx.runId));
              return a * 2;
            });
            return await ctx.step("c").run(() => ({ b, c: [b] }));
          }).build();
        const loop = worker.run();
        try {
          const run = await client.start("three").input(1);
          assert.deepEqual(await run.result(), { b: 4, c: [4] });
          assert.deepEqual(seenByB, [["a:COMPLETED:2"]]);
          // b started (the worker's clock, on this machine) after a's output was stored.
          const [a, b] = await client.handle(run.id).steps();
          assert.ok(
            b.startedAt! >= a.finishedAt!,
            `b began ${b.startedAt?.toISOString()}, a stored ${a.finishedAt?.toISOString()}`,
          );
          assert.deepEqual(await stored(run.id), [
            "a:COMPLETED:2",
            "b:COMPLETED:4",
            `c:COMPLETED:{"b":4,"c":[4]}`,
          ]);
          const { rpcs } = worker.stats;
          assert.equal(rpcs.completeStep, 2, "a and b alone; c with the completion");
          if (backend === "postgres") {
            await using sql = disposable(postgres(server.databaseUrl, { max: 1 }));
            const [runX] =
              await sql`select xmin::text as x from kagzi_runs where run_id = ${run.id}`;
            const steps = await sql`select name, xmin::text as x from kagzi_steps
                                  where run_id = ${run.id} order by name`;
            assert.equal(steps[2].x, runX.x, "c's output and the completion: one transaction");
            assert.notEqual(steps[1].x, runX.x);
          }
        } finally {
          await worker.shutdown();
          await loop;
        }
      },
    );

    await t.step(
      "held-back outputs are stored before a sleep, a failure and a plain wait",
      async () => {
        let openGate!: () => void;
        const gate = new Promise<void>((r) => (openGate = r));
        let reached!: () => void;
        const waiting = new Promise<void>((r) => (reached = r));
        const worker = await Worker.builder(server.url).logger(false)
          .workflow("napper", async (ctx: Context) => {
            await ctx.step("a").run(() => "before the nap");
            await ctx.sleep("nap", "1h");
          })
          .workflow("failer", async (ctx: Context) => {
            await ctx.step("a").run(() => "before the failure");
            throw new NonRetryableError("no");
          })
          .workflow("waiter", async (ctx: Context) => {
            await ctx.step("a").run(() => "before the wait");
            reached();
            await gate; // not a step: the output is stored within a macrotask anyway
            return "done";
          }).build();
        const loop = worker.run();
        try {
          const nap = await client.start("napper");
          await until(async () => (await nap.get()).status === "SLEEPING");
          assert.deepEqual(await stored(nap.id), [`a:COMPLETED:"before the nap"`]);
          const fail = await client.start("failer");
          await assert.rejects(fail.result());
          assert.deepEqual(await stored(fail.id), [`a:COMPLETED:"before the failure"`]);
          const wait = await client.start("waiter");
          await waiting;
          await until(async () => (await stored(wait.id)).length === 1);
          assert.equal((await wait.get()).status, "RUNNING");
          openGate();
          assert.equal(await wait.result(), "done");
          assert.deepEqual(await stored(wait.id), [`a:COMPLETED:"before the wait"`]);
        } finally {
          await worker.shutdown();
          await loop;
        }
      },
    );

    await t.step("over the raw wire: stored with it, or nothing completes", async () => {
      const { registered, workerId, claim } = await rawWorker(rpc, client, "raw");
      assert.equal(registered.stepsWithCompletion, true);
      const step = stepOutput;
      const status = async (id: string) => (await client.handle(id).get()).status;

      const ok = await claim();
      await rpc.completeWorkflow({
        workerId,
        lease: ok.lease,
        output: json("r"),
        steps: [step("x", 1), step("x", 2, 2)],
      });
      assert.equal(await ok.run.result(), "r");
      assert.deepEqual(await stored(ok.run.id), ["x:COMPLETED:1", "x:COMPLETED:2"]);

      // Bad input names the field; nothing is stored and the run is still held.
      const bad = await claim();
      for (const [steps, re] of badStepLists) {
        await assert.rejects(
          rpc.completeWorkflow({
            workerId,
            lease: bad.lease,
            output: json(0),
            steps: steps as never,
          }),
          failed(Code.InvalidArgument, re),
        );
      }
      assert.equal(await status(bad.run.id), "RUNNING");
      assert.deepEqual(await stored(bad.run.id), []);

      // A lost lease, an output stored before, a paused run: nothing completes.
      const complete = (lease: Claimed["lease"], steps: unknown[]) =>
        rpc.completeWorkflow({ workerId, lease, output: json(0), steps: steps as never });
      await refusedCarries({ rpc, client, workerId, claim, held: bad, stored, send: complete });

      // Several in one Report (one transaction): a lost lease refuses only its own item.
      const three = [await claim(), await claim(), await claim()];
      const leases = three.map((c, i) =>
        i === 1 ? { ...c.lease, fence: c.lease.fence + 5n } : c.lease
      );
      const res = await rpc.report({
        workerId,
        items: leases.map((lease, i) => ({
          item: {
            case: "completeWorkflow" as const,
            value: { lease, output: json(i), steps: [step("last", i * 10)] },
          },
        })),
      });
      assert.deepEqual(res.results.map((r) => r.result.case), [
        "completeWorkflow",
        "error",
        "completeWorkflow",
      ]);
      assert.equal(await three[0].run.result(), 0);
      assert.equal(await three[2].run.result(), 2);
      assert.deepEqual(await stored(three[0].run.id), ["last:COMPLETED:0"]);
      assert.deepEqual(await stored(three[1].run.id), []);
      assert.deepEqual(await stored(three[2].run.id), ["last:COMPLETED:20"]);
      assert.equal(await status(three[1].run.id), "RUNNING");
      await client.cancel(three[1].run.id);
    });

    if (backend !== "postgres") return;
    await t.step(
      "the database drops every connection: each run ends once, each step stored once",
      async () => {
        const ran = new Map<string, number>();
        const workers = await Promise.all(
          [1, 2].map(() =>
            Worker.builder(server.url).maxConcurrent(10).logger(false)
              .workflow("dropped", async (ctx: Context, i: number) => {
                const a = await ctx.step("a").run(() => i + 1);
                const b = await ctx.step("b").run(() => a + 1);
                return await ctx.step("c").run(() => {
                  ran.set(ctx.runId, (ran.get(ctx.runId) ?? 0) + 1);
                  return b + 1;
                });
              }).build()
          ),
        );
        const runs = await Promise.all(
          Array.from({ length: 120 }, (_, i) => client.start("dropped").input(i)),
        );
        const loops = workers.map((w) => w.run());
        try {
          await until(async () => (await client.get(runs[10].id)).status === "COMPLETED");
          await dropEveryConnection(server.databaseUrl, 3, 100);
          for (const [i, r] of runs.entries()) assert.equal(await r.result(), i + 3);
        } finally {
          await Promise.all(workers.map((w) => w.shutdown()));
          await Promise.all(loops);
        }
        await using sql = disposable(postgres(server.databaseUrl, { max: 1 }));
        const dup = await sql`select run_id, name, occurrence, count(*)::int as n,
                                   array_agg(attempt) as attempts, array_agg(xmin::text) as xs
                            from kagzi_steps
                            where status = 'COMPLETED' group by 1, 2, 3 having count(*) > 1`;
        assert.deepEqual([...dup], [], `steps stored twice: ${JSON.stringify(dup)}`);
        const [{ n }] = await sql`select count(*)::int as n from kagzi_steps s
                                join kagzi_runs r using (namespace_id, run_id)
                                where r.workflow_type = 'dropped' and s.name = 'c'
                                  and r.status = 'COMPLETED'`;
        assert.equal(n, 120);
        for (const [id, times] of ran) assert.ok(times <= 3, `step c of ${id} ran ${times} times`);
      },
    );
  });
}

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function disposable(sql: postgres.Sql): postgres.Sql & AsyncDisposable {
  return Object.assign(sql, { [Symbol.asyncDispose]: () => sql.end({ timeout: 5 }) });
}
