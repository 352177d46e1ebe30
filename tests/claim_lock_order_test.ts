/**
 * Lock order between claims and the ends of runs holding concurrency slots, on Postgres. An end
 * locks its run, then its slots (in slot_key order), then the first waiter it makes due. A claim
 * must not wait for a slot while it holds a run row: Postgres leaves a row locked that a claim
 * read as due and found changed when it locked it (a waiter by then), and the end making that
 * waiter due would wait for the claim while the claim waited for the end's slot (CI's flow
 * evidence test saw one such deadlock). Slots of several runs ended in one statement are locked
 * in one order too, or two such statements (or one and a claim) wait for each other.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { claimOperation, createOperation, runBatch } from "../server/store/bulk.ts";
import { connectPostgres, type Db } from "../server/store/db.ts";
import { migrate } from "../server/store/migrate.ts";
import { claimRuns, failOverdueRuns } from "../server/store/queue.ts";
import { completeRuns } from "../server/store/run_ends.ts";
import { freshDatabase, postgresIgnored } from "./_db.ts";

/** Cancels every run of namespace "ns" with a bulk operation's batch. */
async function cancelAll(db: Db) {
  const op = crypto.randomUUID();
  await createOperation(db, "ns", op, "CANCEL", {}, "lock order");
  const job = await claimOperation(db, "test", 30_000, op);
  const out = await runBatch(db, "ns", op, job!.fence, 100, 30_000, { message: "cancelled" });
  return out.acted;
}

/** Resolves once a session of `sql` other than its own waits for a lock. */
async function someoneWaitsForALock(sql: postgres.Sql): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`;
    if (n > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("no session came to wait for a lock");
}

/**
 * While another transaction holds slot `slot` of type "t", starts `act` and, once it waits for a
 * lock, checks that `probe` (a SELECT ... FOR UPDATE NOWAIT) can lock its rows at once; `held`
 * is the failure when it cannot. Returns what `act` returned once the slot is let go.
 */
async function whileSlotHeld<T>(
  sql: postgres.Sql,
  slot: string,
  act: () => Promise<T>,
  probe: string,
  held: string,
): Promise<T> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = sql.begin(async (tx) => {
    await tx`select 1 from kagzi_flow_slots where slot_key = ${slot} for update`;
    locked();
    await released;
  });
  await isLocked;
  const acting = act();
  try {
    await someoneWaitsForALock(sql);
    const conn = await sql.reserve();
    try {
      await conn`begin`;
      const rows = await conn.unsafe(probe).catch((err) => {
        if (err?.code === "55P03") assert.fail(held);
        throw err;
      });
      assert.equal(rows.length, 1, "the probe found its row");
    } finally {
      await conn`rollback`;
      conn.release();
    }
  } finally {
    release();
  }
  await holder;
  return await acting;
}

/** Runs `fn` on a migrated fresh database, with a pool of its own and another of two sessions. */
async function onFreshDatabase(fn: (db: Db, other: postgres.Sql) => Promise<void>) {
  await using fresh = await freshDatabase();
  const db = connectPostgres(fresh.url, { max: 2 });
  const other = postgres(fresh.url, { max: 2, onnotice: () => {} });
  try {
    await migrate(db);
    await fn(db, other);
  } finally {
    await other.end({ timeout: 1 });
    await db.close();
  }
}

Deno.test({
  name: "a claim waiting for a concurrency slot holds no run row meanwhile (postgres)",
  ignore: await postgresIgnored(),
  fn: () =>
    onFreshDatabase(async (db, other) => {
      await db.execute(`
        insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap)
        values ('ns', 't', '*', 5);
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                flow_slots)
        values ('ns', gen_random_uuid(), 'w1', 't', 'PENDING', array['*'])`);
      // Another transaction (an end, say) holds the slot; the claim waits for it, and the run's
      // row is free to lock meanwhile (before, the claim held it).
      const { runs } = await whileSlotHeld(
        other,
        "*",
        () => claimRuns(db, "ns", ["t"], [""], [{ workerId: "a", limit: 10 }], 30_000),
        "select 1 from kagzi_runs where workflow_id = 'w1' for update nowait",
        "the claim held the run's row while it waited for the slot",
      );
      assert.deepEqual(runs[0].map((r) => r.workflow_id), ["w1"], "claimed once the slot is free");
      const [slot] = await other`select used from kagzi_flow_slots where slot_key = '*'`;
      assert.equal(slot.used, 1);
    }),
});

Deno.test({
  name: "runs ended in one statement lock their slots in slot order, not run by run (postgres)",
  ignore: await postgresIgnored(),
  fn: () =>
    onFreshDatabase(async (db, other) => {
      // Either run first (by run id, by place in the batch): one way ends k=b's run first. Ended
      // by their completions (group commit), by their deadline (the sweep's one statement), or
      // by a bulk cancel's batch.
      const cases = ["complete", "deadline", "bulk cancel"].flatMap((by) =>
        [["a", "b"], ["b", "a"]].map((order) => ({ by, order }))
      );
      for (const { by, order } of cases) {
        const id = (k: string) => `00000000-0000-4000-8000-00000000000${order.indexOf(k) + 1}`;
        await db.execute(`
          delete from kagzi_runs; delete from kagzi_flow_slots;
          insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap, used)
          values ('ns', 't', 'k=a', 1, 1), ('ns', 't', 'k=b', 1, 1);
          insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                  flow_slots, flow_held, fence, worker_id, deadline_at)
          select 'ns', id::uuid, k, 't', 'RUNNING', array['k=' || k], true, 1, 'w',
                 case when '${by}' = 'deadline' then now() - interval '1 second' end
          from (values ${order.map((k) => `('${id(k)}', '${k}')`).join(", ")}) v(id, k)`);
        const output = { data: new Uint8Array([1]), metadata: {} };
        // A claim (say) holds k=a and will want k=b next: slots are taken in slot order, so the
        // ends wait for k=a holding no other slot.
        const ends = await whileSlotHeld<unknown[]>(
          other,
          "k=a",
          () =>
            by === "complete"
              ? completeRuns(
                db,
                order.map((k) => ({ namespaceId: "ns", runId: id(k), fence: "1", output })),
              )
              : by === "deadline"
              ? failOverdueRuns(db)
              : cancelAll(db),
          "select 1 from kagzi_flow_slots where slot_key = 'k=b' for update nowait",
          `${by} ${order}: the ends took k=b while waiting for k=a`,
        );
        assert.equal(ends.filter(Boolean).length, 2, "both runs ended");
        const slots = await other`select slot_key, used from kagzi_flow_slots order by slot_key`;
        assert.deepEqual(slots.map((s) => [s.slot_key, s.used]), [["k=a", 0], ["k=b", 0]]);
      }
    }),
});
