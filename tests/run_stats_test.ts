/**
 * GetRunStats (`client.runStats()`, the dashboard's overview) on both backends with a real
 * server and worker: runs begun, completed, failed and cancelled in the last hour are counted
 * per minute and type, only in their namespace; bad windows are refused naming the field.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, KagziError, Retry, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

for (const backend of await backends()) {
  Deno.test(`runStats counts runs per minute and type on ${backend}`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url).workflows({
      ok: (ctx: Context) => ctx.step("a").run(() => 1),
      bad: (ctx: Context) =>
        ctx.step("b").retry(Retry.none()).run(() => {
          throw new Error("no");
        }),
    }).build();
    const running = worker.run();
    try {
      await t.step("counts what began and ended, per type", async () => {
        const empty = await client.runStats();
        assert.deepEqual(empty.buckets, []);
        assert.ok(empty.until.getTime() - empty.since.getTime() <= 60 * 60_000);
        assert.ok(empty.until.getTime() - empty.since.getTime() > 59 * 60_000);
        for (let i = 0; i < 3; i++) await (await client.start("ok").input({})).result();
        for (let i = 0; i < 2; i++) {
          await assert.rejects((await client.start("bad").input({})).result(), /no/);
        }
        const open = await client.start("idle").input({});
        await client.cancel(open.id);
        await client.start("idle").input({}).namespace("other");
        const stats = await client.runStats();
        const sum = (type: string, k: "begun" | "completed" | "failed" | "cancelled") =>
          stats.buckets.filter((b) => b.type === type).reduce((n, b) => n + b[k], 0);
        assert.deepEqual(
          ["ok", "bad", "idle"].map((type) => [
            sum(type, "begun"),
            sum(type, "completed"),
            sum(type, "failed"),
            sum(type, "cancelled"),
          ]),
          [[3, 3, 0, 0], [2, 0, 2, 0], [1, 0, 0, 1]],
        );
        for (const b of stats.buckets) {
          assert.equal(b.minute.getSeconds(), 0);
          assert.ok(b.minute >= stats.since && b.minute <= stats.until);
        }
        const other = await client.runStats({ namespace: "other", minutes: 5 });
        assert.deepEqual(other.buckets.map((b) => [b.type, b.begun]), [["idle", 1]]);
      });

      await t.step("a window outside 1-1440 minutes is INVALID_ARGUMENT", async () => {
        for (const minutes of [-1, 1441]) {
          await assert.rejects(client.runStats({ minutes }), (e: KagziError) => {
            assert.ok(e instanceof KagziError);
            assert.equal(e.code, "INVALID_ARGUMENT");
            assert.match(e.message, /"minutes" -?\d+ must be from 1 to 1440/);
            return true;
          });
        }
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
