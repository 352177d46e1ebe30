import assert from "node:assert/strict";
import { Kagzi, type KagziError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startServer, startTestServer } from "./_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fast = ["--tick-interval-ms", "200"];

/** The runs a schedule started: fire time (from the workflow id) and when the run was made. */
async function fires(
  client: Kagzi,
  scheduleId: string,
): Promise<{ at: number; created: number }[]> {
  const out: { at: number; created: number }[] = [];
  for await (const w of client.list().scheduleId(scheduleId).pageSize(500)) {
    assert.equal(w.scheduleId, scheduleId);
    out.push({
      at: Date.parse(w.workflowId.slice(scheduleId.length + 1)),
      created: w.createdAt.getTime(),
    });
  }
  return out.sort((a, b) => a.at - b.at);
}

/** Fire times of the runs a schedule started. */
async function fireTimes(client: Kagzi, scheduleId: string): Promise<number[]> {
  return (await fires(client, scheduleId)).map((f) => f.at);
}

const all = await backends();

if (all.includes("postgres")) {
  Deno.test("an every-second schedule fires N times in N seconds with 2 server replicas, each time once (postgres)", async () => {
    await using a = await startTestServer("postgres", { args: fast });
    await using b = await startServer({ databaseUrl: a.databaseUrl, args: fast });
    const client = await Kagzi.connect(a.url);
    const created = await client.schedule("every-second").workflow("tick").cron("* * * * * *")
      .input({ n: 1 });
    assert.equal(created.enabled, true);
    const t0 = Date.now();
    await sleep(6_000);
    await client.updateSchedule("every-second", { enabled: false });
    const elapsed = (Date.now() - t0) / 1000;
    const times = await fireTimes(await Kagzi.connect(b.url), "every-second");
    assert.equal(new Set(times).size, times.length, "no fire time started twice");
    assert.ok(Math.abs(times.length - elapsed) <= 1.5, `${times.length} fires in ${elapsed}s`);
    for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 1_000, "no gaps");
    const total = (await client.list().withTotal()).totalCount;
    assert.equal(total, times.length, "exactly one run per fire");
    const run = (await client.list().scheduleId("every-second")).workflows[0];
    assert.deepEqual((await client.get(run.id)).input, { n: 1 });
  });
}

for (const backend of all) {
  Deno.test(`schedules on ${backend}: catch-up, disable, enable, update, delete`, async (t) => {
    await using server = await startTestServer(backend, { args: fast });
    let client = await Kagzi.connect(server.url);

    await t.step(
      "after a 10 s stop, max_catchup 3 starts exactly 3 catch-up runs, oldest first",
      async () => {
        await client.schedule("catchup").workflow("tick").cron("* * * * * *").catchup(3);
        await sleep(1_500);
        await server.stop();
        const down = Date.now();
        await sleep(10_000);
        const up = await server.restart({ port: server.port, grpcPort: server.grpcPort });
        const restarted = Date.now();
        client = await Kagzi.connect(up.url);
        await sleep(1_500);
        await client.updateSchedule("catchup", { enabled: false });
        const all = await fires(client, "catchup");
        // A catch-up run is one made well after its fire time; on-time fires lag under a second.
        const missed = all.filter((f) => f.created - f.at > 2_000);
        assert.equal(
          missed.length,
          3,
          `catch-up fires: ${missed.map((f) => new Date(f.at).toISOString())}`,
        );
        assert.ok(missed.every((f) => f.at > down), "only fires missed while down");
        assert.ok(all.filter((f) => f.at > down).length < 10, "not every missed fire was started");
        assert.equal(new Set(all.map((f) => f.at)).size, all.length);
        const s = await client.getSchedule("catchup");
        assert.ok(s.lastFiredAt && s.lastFiredAt.getTime() >= restarted - 3_000);
      },
    );

    await t.step("disabling stops firing; enabling resumes from now without a burst", async () => {
      await client.schedule("toggle").workflow("tick").cron("* * * * * *").catchup(100);
      await sleep(1_200);
      const off = await client.updateSchedule("toggle", { enabled: false });
      assert.equal(off.nextFireAt, undefined);
      const before = (await fireTimes(client, "toggle")).length;
      assert.ok(before >= 1);
      await sleep(3_000);
      assert.equal(
        (await fireTimes(client, "toggle")).length,
        before,
        "nothing fires while disabled",
      );
      const on = await client.updateSchedule("toggle", { enabled: true });
      assert.ok(on.nextFireAt && on.nextFireAt.getTime() > Date.now() - 1_000);
      await sleep(1_500);
      await client.updateSchedule("toggle", { enabled: false });
      const after = await fireTimes(client, "toggle");
      assert.ok(
        after.length - before <= 3,
        `no burst: ${after.length - before} fires after enabling`,
      );
    });

    await t.step("updating the cron recomputes the next fire time; deleting stops it", async () => {
      const s = await client.schedule("daily").workflow("report").cron("0 6 * * *").timezone(
        "Europe/Berlin",
      )
        .input({ kind: "daily" }).version("2");
      assert.equal(s.timezone, "Europe/Berlin");
      assert.equal(s.version, "2");
      const local = new Intl.DateTimeFormat("en-GB", {
        timeZone: "Europe/Berlin",
        hour: "2-digit",
        minute: "2-digit",
      }).format(s.nextFireAt!);
      assert.equal(local, "06:00");
      const hourly = await client.updateSchedule("daily", { cron: "@hourly" });
      assert.equal(hourly.nextFireAt!.getUTCMinutes(), 0);
      assert.ok(hourly.nextFireAt!.getTime() - Date.now() <= 3_600_000);
      assert.equal(hourly.workflowType, "report", "fields not in the patch are kept");
      assert.deepEqual(hourly.input, { kind: "daily" });
      const listed = await client.listSchedules({ type: "report" });
      assert.deepEqual(listed.schedules.map((x) => x.id), ["daily"]);
      await client.deleteSchedule("daily");
      await assert.rejects(client.getSchedule("daily"), (e: KagziError) => e.code === "NOT_FOUND");
      await assert.rejects(
        client.deleteSchedule("daily"),
        (e: KagziError) => e.code === "NOT_FOUND",
      );
    });

    await t.step("an invalid expression or time zone is INVALID_ARGUMENT naming it", async () => {
      await assert.rejects(
        client.schedule("bad").workflow("x").cron("61 * * * *"),
        (e: KagziError) =>
          e.code === "INVALID_ARGUMENT" && e.subject === "cron" && /61 \* \* \* \*/.test(e.message),
      );
      await assert.rejects(
        client.schedule("bad").workflow("x").cron("* * * * *").timezone("Mars/Olympus"),
        (e: KagziError) => e.subject === "timezone" && /Mars\/Olympus/.test(e.message),
      );
      await assert.rejects(
        client.schedule("bad").workflow("x").cron("* * * * *").catchup(-1),
        (e: KagziError) => e.subject === "max_catchup",
      );
      await assert.rejects(client.getSchedule("bad"), (e: KagziError) => e.code === "NOT_FOUND");
    });
  });
}
