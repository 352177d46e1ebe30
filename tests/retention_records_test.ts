/**
 * Retention of records that end on their own without being rows of a run: ended bulk
 * operations and emitted events are deleted once they ended (were emitted) longer ago than
 * their namespace's retention; running ones, recent ones and longer-kept namespaces stay.
 */
import assert from "node:assert/strict";
import { retentionPass } from "../server/engine/retention.ts";
import { endedRecordTables } from "../server/store/retention.ts";
import { backends } from "./_db.ts";
import { openStore } from "./_store.ts";

for (const backend of await backends()) {
  Deno.test(`ended bulk operations are swept by retention (${backend})`, async () => {
    await using db = await openStore(backend);
    assert.ok(endedRecordTables.some((t) => t.table === "kagzi_bulk_operations"));
    // In namespaces a (1 h) and b (3 h): 7 ended 2 h ago each, 3 running started 5 h ago,
    // 2 ended just now.
    await db.execute(`
      insert into kagzi_bulk_operations (namespace_id, operation_id, action, filter, status,
                                         total, max_seq, created_at, finished_at)
      select ns, gen_random_uuid(), 'CANCEL', '{}', (array['COMPLETED', 'CANCELLED'])[1 + i % 2],
             0, 0, now() - interval '3 hours', now() - interval '2 hours'
      from generate_series(1, 7) i cross join (values ('a'), ('b')) n(ns);
      insert into kagzi_bulk_operations (namespace_id, operation_id, action, filter, total,
                                         max_seq, created_at)
      select 'a', gen_random_uuid(), 'RERUN', '{}', 10, 10, now() - interval '5 hours'
      from generate_series(1, 3);
      insert into kagzi_bulk_operations (namespace_id, operation_id, action, filter, status,
                                         total, max_seq, finished_at)
      select 'a', gen_random_uuid(), 'PAUSE', '{}', 'COMPLETED', 0, 0, now()
      from generate_series(1, 2);
    `);
    const left = async () =>
      Object.fromEntries(
        (await db.query<{ k: string; n: number }>(
          `select namespace_id || ':' || status as k, count(*)::int as n
           from kagzi_bulk_operations group by 1 order by 1`,
        )).map((r) => [r.k, r.n]),
      );
    const options = { defaultMs: 3_600_000, byNamespace: { b: 3 * 3_600_000 }, batchSize: 3 };
    assert.equal(await retentionPass(db, options), 0, "no run was deleted");
    assert.deepEqual(await left(), {
      "a:COMPLETED": 2, // the two that ended just now
      "a:RUNNING": 3,
      "b:CANCELLED": 4,
      "b:COMPLETED": 3,
    });
    await retentionPass(db, { ...options, byNamespace: { b: 0 } });
    assert.equal((await left())["b:COMPLETED"], 3, "b: kept forever");
    await retentionPass(db, { ...options, byNamespace: {} });
    assert.deepEqual(await left(), { "a:COMPLETED": 2, "a:RUNNING": 3 });
  });

  Deno.test(`emitted events are swept by retention (${backend})`, async () => {
    await using db = await openStore(backend);
    // 5 events emitted 2 h ago in each of a (1 h) and b (3 h), 2 emitted just now in a.
    await db.execute(`
      insert into kagzi_events (namespace_id, event_name, event_id, data, created_at)
      select ns, 'order.created', 'old-' || i, '\\x00', now() - interval '2 hours'
      from generate_series(1, 5) i cross join (values ('a'), ('b')) n(ns);
      insert into kagzi_events (namespace_id, event_name, event_id, data)
      select 'a', 'order.created', 'new-' || i, '\\x00' from generate_series(1, 2) i;
    `);
    const left = async () =>
      (await db.query<{ k: string }>(
        `select namespace_id || ':' || event_id as k from kagzi_events order by 1`,
      )).map((r) => r.k);
    const options = { defaultMs: 3_600_000, byNamespace: { b: 3 * 3_600_000 }, batchSize: 2 };
    await retentionPass(db, options);
    assert.deepEqual(await left(), [
      "a:new-1",
      "a:new-2",
      ...[1, 2, 3, 4, 5].map((i) => `b:old-${i}`),
    ]);
  });
}
