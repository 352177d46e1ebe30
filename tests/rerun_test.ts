/**
 * `client.rerun(runId, { fromStep })` on both backends with real server processes: the new run
 * keeps the stored outputs of the steps before `fromStep` (seen from inside the steps: they do
 * not run again, and their old outputs flow on), is linked both ways, and bad input is refused
 * naming the field; `kagzi run rerun --from-step` does the same from the command line.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, type KagziError, Retry, Worker } from "@kagzi/sdk";
import { kagzi } from "./_cli.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

/** Every real execution of a step: `<runId>:<step>`. */
const executions: string[] = [];
let broken = true; // what fails step "s2" of the first run: fixed before the rerun

async function four(ctx: Context) {
  const step = (name: string, fn: () => string) =>
    ctx.step(name).retry(Retry.none()).run(() => {
      executions.push(`${ctx.runId}:${name}`);
      return fn();
    });
  const a = await step("s1", () => `s1 of ${ctx.runId}`);
  const b = await step("s2", () => {
    if (broken) throw new Error("s2 is broken");
    return "s2";
  });
  const c = await step("s3", () => "s3");
  const d = await step("s4", () => "s4");
  return [a, b, c, d];
}

const ran = (runId: string) =>
  executions.filter((e) => e.startsWith(`${runId}:`)).map((e) => e.split(":")[1]);

for (const backend of await backends()) {
  Deno.test(`client.rerun() from a step on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    executions.length = 0;
    broken = true;
    const worker = await Worker.builder(server.url).workflow("four", four).build();
    const running = worker.run();
    try {
      const first = await client.start("four").input({}).id("order-1");
      await assert.rejects(first.result(), /s2 is broken/);
      assert.deepEqual(ran(first.id), ["s1", "s2"]);
      broken = false;

      await t.step(
        "a rerun from the 2nd of 4 steps reuses one output and runs three",
        async (t) => {
          const again = await client.rerun<string[]>(first.id, { fromStep: "s2" });
          assert.equal(again.workflowId, "order-1");
          assert.deepEqual(await again.result(), [`s1 of ${first.id}`, "s2", "s3", "s4"]);
          assert.deepEqual(ran(again.id), ["s2", "s3", "s4"], "s1 did not run again");
          const steps = await client.listSteps(again.id);
          assert.deepEqual(steps.map((s) => `${s.name}:${s.status}`), [
            "s1:COMPLETED",
            "s2:COMPLETED",
            "s3:COMPLETED",
            "s4:COMPLETED",
          ]);
          assert.equal((await client.get(again.id)).retriedFromRunId, first.id);
          assert.deepEqual((await client.get(first.id)).reruns, [again.id]);

          await t.step("a rerun from the 3rd step of the completed rerun runs two", async () => {
            const third = await client.rerun<string[]>(again.id, { fromStep: "s3" });
            assert.deepEqual(await third.result(), [`s1 of ${first.id}`, "s2", "s3", "s4"]);
            assert.deepEqual(ran(third.id), ["s3", "s4"]);
            assert.deepEqual((await client.get(again.id)).reruns, [third.id]);
          });
        },
      );

      await t.step("without fromStep every step runs again (a retry)", async () => {
        const plain = await client.rerun<string[]>(first.id);
        assert.deepEqual(await plain.result(), [`s1 of ${plain.id}`, "s2", "s3", "s4"]);
        assert.deepEqual(ran(plain.id), ["s1", "s2", "s3", "s4"]);
        assert.equal((await client.get(first.id)).reruns.length, 2);
      });

      await t.step(
        "kagzi run rerun --from-step keeps the steps before it; an unknown step exits 2",
        async () => {
          const r = await kagzi([
            ...["--address", server.url, "run", "rerun", first.id],
            ...["--from-step", "s2", "--wait"],
          ]);
          assert.equal(r.code, 0, r.stderr);
          const w = r.json();
          assert.equal(w.status, "COMPLETED");
          assert.deepEqual(ran(w.runId), ["s2", "s3", "s4"]);
          const bad = await kagzi([
            "--address",
            server.url,
            "run",
            "rerun",
            first.id,
            "--from-step",
            "s9",
          ]);
          assert.equal(bad.code, 2, bad.stderr);
          assert.match(bad.stderr, /"s9" is not a step of run .*its steps are "s1", "s2"/);
        },
      );

      await t.step("bad input is refused naming the field", async () => {
        const refused = (code: string, subject: string, message?: RegExp) => (e: KagziError) => {
          assert.equal(e.code, code);
          assert.equal(e.subject, subject);
          if (message) assert.match(e.message, message);
          return true;
        };
        await assert.rejects(
          client.rerun(first.id, { fromStep: "charge-card" }),
          refused("INVALID_ARGUMENT", "from_step", /its steps are "s1", "s2"$/),
        );
        await assert.rejects(
          client.rerun(first.id, { fromStep: "s\u00002" }),
          refused("INVALID_ARGUMENT", "from_step", /NUL character/),
        );
        await assert.rejects(
          client.rerun(crypto.randomUUID(), { fromStep: "s2" }),
          (e: KagziError) => e.code === "NOT_FOUND",
        );
        await assert.rejects(
          client.rerun(first.id, { fromStep: "s2", namespace: "other" }),
          (e: KagziError) => e.code === "NOT_FOUND",
        );
        await assert.rejects(
          client.rerun("not-a-uuid", { fromStep: "s2" }),
          refused("INVALID_ARGUMENT", "run_id"),
        );
        const open = await client.start("unserved").input({});
        await assert.rejects(
          client.rerun(open.id, { fromStep: "s2" }),
          (e: KagziError) => e.code === "INVALID_ARGUMENT" && /recorded no steps/.test(e.message),
        );
        await assert.rejects(client.rerun(open.id), (e: KagziError) => {
          assert.equal(e.code, "PRECONDITION_FAILED");
          assert.match(e.message, /is PENDING/);
          return true;
        });
        await client.cancel(open.id);
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
