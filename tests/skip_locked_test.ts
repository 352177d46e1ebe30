/**
 * `FOR UPDATE SKIP LOCKED` in the claim query, for real: on Postgres, runs whose rows another
 * connection holds are skipped (not waited for, not claimed twice) and claimed once released. The
 * embedded database admits one connection, the server's own, so no other session can hold rows.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { startEmbedded } from "../server/store/embedded.ts";
import { connectPostgres } from "../server/store/db.ts";
import { migrate } from "../server/store/migrate.ts";
import { claimRuns } from "../server/store/queue.ts";
import { backends, freshDatabase } from "./_db.ts";

const all = await backends();

if (all.includes("postgres")) {
  Deno.test("a claim skips runs another connection has locked, and takes them once released (postgres)", async () => {
    await using fresh = await freshDatabase();
    const db = connectPostgres(fresh.url, { max: 2 });
    const other = postgres(fresh.url, { max: 1, onnotice: () => {} });
    try {
      await migrate(db);
      await db.execute(`
        insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status)
        select 'ns', gen_random_uuid(), 'w' || i, 't', 'PENDING' from generate_series(1, 3) i`);
      const claim = (limit: number) =>
        claimRuns(db, "ns", ["t"], [""], [{ workerId: "worker-a", limit }], 30_000).then((c) =>
          c.runs[0].map((r) => r.workflow_id).sort()
        );
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // Another session holds w1's row in an open transaction.
      const holder = other.begin(async (tx) => {
        await tx`select run_id from kagzi_runs where workflow_id = 'w1' for update`;
        locked();
        await released;
      });
      await isLocked;
      // Asked for all three, it returns with the two it could lock instead of waiting for w1
      // (which would wait forever here: the holder lets go only after the claim).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the claim waited for the locked row")), 15_000);
      });
      try {
        assert.deepEqual(await Promise.race([claim(3), stuck]), ["w2", "w3"]);
      } finally {
        clearTimeout(timer);
        release();
      }
      await holder;
      assert.deepEqual(await claim(3), ["w1"], "released: claimed now, and only it");
      assert.deepEqual(await claim(3), [], "nothing claimed twice");
    } finally {
      await other.end({ timeout: 1 });
      await db.close();
    }
  });
}

if (all.includes("embedded")) {
  Deno.test("the embedded database refuses a second connection, so no other session holds rows (embedded)", async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "kagzi_skip_locked_" });
    const embedded = await startEmbedded({ dataDir });
    const first = postgres(embedded.url, { max: 1, onnotice: () => {} });
    const second = postgres(embedded.url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      assert.deepEqual([...await first`select 1 as v`], [{ v: 1 }]);
      await assert.rejects(second`select 2 as v`);
      assert.deepEqual([...await first`select 3 as v`], [{ v: 3 }], "the first is unharmed");
    } finally {
      await second.end({ timeout: 1 }).catch(() => {});
      await first.end({ timeout: 1 });
      await embedded.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}
