import assert from "node:assert/strict";
import { Kagzi, type KagziError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

for (const backend of await backends()) {
  Deno.test(`TriggerWorkflowSchedule starts one run now, listed under the schedule (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const created = await client.schedule("yearly").workflow("report").cron("0 0 1 1 *")
      .timezone("Europe/Berlin").input({ year: true }).version("v2").enabled(false);

    await t.step("a disabled schedule triggers; its fire times stay as they were", async () => {
      const a = await client.triggerSchedule("yearly");
      const b = await client.triggerSchedule("yearly");
      assert.notEqual(a.workflowId, b.workflowId);
      assert.match(a.workflowId, /^yearly@.+\/manual-/);
      const listed = await client.list().scheduleId("yearly");
      assert.deepEqual(listed.workflows.map((w) => w.id), [b.id, a.id]);
      const w = await client.get(a.id);
      assert.equal(w.status, "PENDING");
      assert.equal(w.type, "report");
      assert.equal(w.version, "v2");
      assert.equal(w.scheduleId, "yearly");
      assert.deepEqual(w.input, { year: true });
      const after = await client.getSchedule("yearly");
      assert.equal(after.enabled, false);
      assert.equal(after.nextFireAt, undefined);
      assert.equal(after.lastFiredAt, created.lastFiredAt);
    });

    await t.step("unknown and empty schedule ids are refused naming them", async () => {
      await assert.rejects(client.triggerSchedule("nope"), (e: KagziError) => {
        assert.equal(e.code, "NOT_FOUND");
        assert.match(e.message, /"nope"/);
        return true;
      });
      await assert.rejects(client.triggerSchedule("yearly", { namespace: "other" }), {
        code: "NOT_FOUND",
      });
      await assert.rejects(client.triggerSchedule(""), (e: KagziError) => {
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.equal(e.subject, "schedule_id");
        return true;
      });
    });
  });
}
