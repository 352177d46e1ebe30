/**
 * Flow control on the runs schedules start, on both backends with a real server: a schedule
 * whose input lacks a key its type's limits need is refused at create and update; a fire of a
 * schedule stored before the limit was registered starts nothing and is logged as an error
 * naming the schedule, the type and the key, and a manual trigger of it is refused; with the key
 * present, a schedule's runs obey the limit.
 */
import assert from "node:assert/strict";
import { Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { errorLines, limitedType, refused, runCount, Spans } from "./_flow_paths.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of await backends()) {
  Deno.test(`schedules obey their type's flow control or are refused naming the key (${backend})`, async (t) => {
    await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "200"] });
    const client = await Kagzi.connect(server.url);
    const spans = new Spans();
    const keyed = limitedType("keyed", spans, 1_200);
    const worker = await Worker.builder(server.url).workflows([keyed]).logger(false).build();
    const running = worker.run();
    try {
      await t.step("create and update refuse an input that lacks the key", async () => {
        const why = /concurrency key "input\.c" is missing from the input/;
        const named = /schedule "s1" of workflow type "keyed"/;
        const every = (id: string) => client.schedule(id).workflow("keyed").cron("* * * * * *");
        await refused(every("s1").input({ n: 1 }), named, why);
        await refused(every("s1"), named, why);
        await refused(every("s1").input({ c: "x\u0000" }), named, /has a NUL character/);
        await every("s1").input({ c: "x" }).enabled(false);
        await refused(client.updateSchedule("s1", { input: { n: 1 } }), named, why);
        assert.deepEqual((await client.getSchedule("s1")).input, { c: "x" });
        await client.deleteSchedule("s1");
      });

      await t.step(
        "a fire whose input the limit refuses starts nothing and is logged",
        async () => {
          // Stored before its type's limit is registered: fires 4-6 s from now, once each.
          const first = Math.floor(Date.now() / 1000) + 4;
          const seconds = [0, 1, 2].map((i) => (first + i) % 60).join(",");
          await client.schedule("early").workflow("late").cron(`${seconds} * * * * *`)
            .input({ n: 1 });
          const late = limitedType("late", spans, 10);
          const w = await Worker.builder(server.url).workflow(late).logger(false).build();
          const r = w.run();
          try {
            await sleep(Math.max(0, (first + 3.5) * 1000 - Date.now()));
            assert.equal(await runCount(client, "late"), 0, "no run was started unlimited");
            const logged = errorLines(server.output()).filter((l) => l.includes('"early"'));
            assert.equal(logged.length, 3, logged.join("\n"));
            for (const line of logged) {
              assert.match(line, /schedule "early" of workflow type "late"/);
              assert.match(line, /concurrency key "input\.c" is missing from the input/);
            }
            const s = await client.getSchedule("early");
            assert.equal(s.lastFiredAt, undefined, "no fire happened");
            assert.ok(s.nextFireAt && s.nextFireAt.getTime() > Date.now(), "it moved on");
            await refused(
              client.triggerSchedule("early"),
              /trigger schedule "early" of workflow type "late"/,
              /"input\.c" is missing/,
            );
            assert.equal(await runCount(client, "late"), 0);
            await client.updateSchedule("early", { enabled: false }); // a broken one can be stopped
          } finally {
            await w.shutdown();
            await r;
          }
        },
      );

      await t.step("with the key, a schedule's fires and triggers obey the limit", async () => {
        spans.clear();
        await client.schedule("every").workflow("keyed").cron("* * * * * *").input({ c: "s" });
        await client.triggerSchedule("every");
        await sleep(3_500);
        await client.updateSchedule("every", { enabled: false });
        const fired = (await client.list().scheduleId("every")).workflows;
        assert.ok(fired.length >= 3, `${fired.length} runs`);
        for (const f of fired) await client.handle(f.id).result({ timeout: "60s" });
        assert.equal(spans.size, fired.length);
        assert.equal(spans.peaks().perKey, 1, "runs 1.2 s long, fired 1 s apart, one at a time");
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
