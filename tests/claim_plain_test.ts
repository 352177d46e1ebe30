/**
 * The plain claim (store/claim_sql.ts) on both backends: due runs without flow control are
 * claimed by it, in claim order, split between the asks; a due run that needs a concurrency
 * slot or a rate limit's token sends the claim to the full statement (`flow`), which then
 * decides as before; a run that already holds its slots needs none. And the claim of one run by
 * id (a run due at once handed to a waiting poll): only a due, served, unpaused, plain run.
 */
import assert from "node:assert/strict";
import type { Db } from "../server/store/db.ts";
import { claimRun, claimRuns } from "../server/store/queue.ts";
import { backends } from "./_db.ts";
import { openStore } from "./_store.ts";

const claim = (db: Db, asks: [string, number][], full = false) =>
  claimRuns(
    db,
    "ns",
    ["t"],
    [""],
    asks.map(([workerId, limit]) => ({ workerId, limit })),
    30_000,
    { full },
  );

const ids = (runs: { workflow_id: string }[]) => runs.map((r) => r.workflow_id);

for (const backend of await backends()) {
  Deno.test(`the plain claim and when the full one decides (${backend})`, async (t) => {
    await using db = await openStore(backend);
    const reset = (sql: string) =>
      db.execute(`delete from kagzi_runs; delete from kagzi_flow_slots; ${sql}`);

    await t.step(
      "runs without flow control: claimed plainly, in claim order, per ask",
      async () => {
        await reset(`
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                priority, available_at)
        values ('ns', gen_random_uuid(), 'low', 't', 'PENDING', 0, now() - interval '3 s'),
               ('ns', gen_random_uuid(), 'high', 't', 'PENDING', 5, now() - interval '1 s'),
               ('ns', gen_random_uuid(), 'old', 't', 'SLEEPING', 0, now() - interval '9 s'),
               ('ns', gen_random_uuid(), 'later', 't', 'SLEEPING', 9, now() + interval '1 h')`);
        const out = await claim(db, [["a", 2], ["b", 5]]);
        assert.equal(out.flow, false);
        assert.deepEqual(out.runs.map(ids), [["high", "old"], ["low"]]);
        const rows = await db.query<{ workflow_id: string; status: string; worker_id: string }>(
          `select workflow_id, status, worker_id from kagzi_runs order by workflow_id`,
        );
        assert.deepEqual(rows.map((r) => `${r.workflow_id}:${r.status}:${r.worker_id ?? ""}`), [
          "high:RUNNING:a",
          "later:SLEEPING:",
          "low:RUNNING:b",
          "old:RUNNING:a",
        ]);
        assert.deepEqual(await claim(db, [["a", 5]]), { runs: [[]], deferred: 0, flow: false });
      },
    );

    await t.step(
      "a run that needs a slot: the full statement claims, the slot counts",
      async () => {
        await reset(`
        insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap)
        values ('ns', 't', '*', 1);
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                available_at, flow_slots)
        values ('ns', gen_random_uuid(), 'plain', 't', 'PENDING', now() - interval '3 s', null),
               ('ns', gen_random_uuid(), 's1', 't', 'PENDING', now() - interval '2 s', array['*']),
               ('ns', gen_random_uuid(), 's2', 't', 'PENDING', now() - interval '1 s', array['*'])`);
        const out = await claim(db, [["a", 3]]);
        assert.equal(out.flow, true);
        assert.deepEqual(ids(out.runs[0]), ["plain", "s1"]);
        const [slot] = await db.query<{ used: number }>(`select used from kagzi_flow_slots`);
        assert.equal(slot.used, 1);
        // s2 lost the slot to s1 ahead of it in the batch: still due, counted as deferred; the
        // next claim finds the slot full and makes it wait for it.
        assert.equal(out.deferred, 1);
        const again = await claim(db, [["a", 3]]);
        assert.deepEqual({ ...again, runs: again.runs.map(ids) }, {
          runs: [[]],
          deferred: 0,
          flow: true,
        });
        const [s2] = await db.query<{ status: string; flow_wait: string | null }>(
          `select status, flow_wait from kagzi_runs where workflow_id = 's2'`,
        );
        assert.deepEqual({ ...s2 }, { status: "PENDING", flow_wait: "*" });
      },
    );

    await t.step("a run holding its slots needs none: claimed plainly", async () => {
      await reset(`
        insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap, used)
        values ('ns', 't', '*', 1, 1);
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                available_at, flow_slots, flow_held, started_at)
        values ('ns', gen_random_uuid(), 'held', 't', 'SLEEPING', now() - interval '1 s',
                array['*'], true, now())`);
      const out = await claim(db, [["a", 3]]);
      assert.equal(out.flow, false);
      assert.deepEqual(ids(out.runs[0]), ["held"]);
      assert.equal(out.runs[0][0].resumed, true);
      const [slot] = await db.query<{ used: number }>(`select used from kagzi_flow_slots`);
      assert.equal(slot.used, 1, "its slot is not taken twice");
    });

    await t.step("a run beginning under a rate key: the full statement", async () => {
      await reset(`
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                rate_key)
        values ('ns', gen_random_uuid(), 'rated', 't', 'PENDING', 'k')`);
      const out = await claim(db, [["a", 3]]);
      assert.equal(out.flow, true);
      // No rate limit is set for the type: claimed as any run.
      assert.deepEqual(ids(out.runs[0]), ["rated"]);
    });

    await t.step("one run by id: only when due, served, not paused and plain", async () => {
      await reset(`
        delete from kagzi_paused_types;
        insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap)
        values ('ns', 't', '*', 5);
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                available_at, started_at, fence, flow_slots, version)
        values ('ns', gen_random_uuid(), 'woken', 't', 'SLEEPING', now() - interval '1 s',
                now(), 3, null, 'v1'),
               ('ns', gen_random_uuid(), 'later', 't', 'SLEEPING', now() + interval '1 h',
                now(), 3, null, 'v1'),
               ('ns', gen_random_uuid(), 'slotted', 't', 'PENDING', now() - interval '1 s',
                null, 0, array['*'], 'v1'),
               ('ns', gen_random_uuid(), 'v2', 't', 'PENDING', now() - interval '1 s',
                null, 0, null, 'v2')`);
      const id = async (wf: string) =>
        (await db.query<{ id: string }>(
          `select run_id::text as id from kagzi_runs where workflow_id = $1`,
          [wf],
        ))[0].id;
      const one = (wf: string) =>
        id(wf).then((runId) => claimRun(db, "ns", runId, ["v1"], "a", 30_000));
      assert.equal(await one("later"), undefined, "not due");
      assert.equal(await one("slotted"), undefined, "needs a slot: the claim decides");
      assert.equal(await one("v2"), undefined, "a version the worker does not serve");
      await db.execute(`insert into kagzi_paused_types (namespace_id, workflow_type)
                        values ('ns', 't')`);
      assert.equal(await one("woken"), undefined, "its type is paused");
      await db.execute(`delete from kagzi_paused_types`);
      const row = await one("woken");
      assert.ok(row);
      assert.deepEqual(
        [row.workflow_id, row.fence, row.resumed, row.version],
        ["woken", "4", true, "v1"],
      );
      const [stored] = await db.query<{ status: string; worker_id: string }>(
        `select status, worker_id from kagzi_runs where workflow_id = 'woken'`,
      );
      assert.deepEqual({ ...stored }, { status: "RUNNING", worker_id: "a" });
      assert.equal(await one("woken"), undefined, "claimed once");
    });

    await t.step("full: the full statement at once", async () => {
      await reset(`
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status)
        values ('ns', gen_random_uuid(), 'p', 't', 'PENDING')`);
      const out = await claim(db, [["a", 3]], true);
      assert.equal(out.flow, true);
      assert.deepEqual(ids(out.runs[0]), ["p"]);
    });
  });
}
