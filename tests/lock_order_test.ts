/**
 * Statements that write many runs at once lock them in one order (Postgres): a worker's
 * heartbeat, a batch of step outputs and a batch of completions over the same runs, sent at the
 * same moment in opposite orders, never deadlock (before, each locked rows in the order its join
 * met them, and a completion batch and a heartbeat deadlocked under load: the batch was written
 * again item by item, the heartbeat failed and was retried).
 */
import assert from "node:assert/strict";
import { extendLeases } from "../server/store/queue.ts";
import { completeRuns } from "../server/store/run_ends.ts";
import { completeSteps } from "../server/store/step_results.ts";
import { postgresIgnored } from "./_db.ts";
import { openStore } from "./_store.ts";

const worker = crypto.randomUUID();
const json = { data: new TextEncoder().encode("1"), metadata: { encoding: "json" } };

Deno.test({
  name: "heartbeats, step outputs and completions over the same runs never deadlock (postgres)",
  ignore: await postgresIgnored(),
  async fn() {
    await using db = await openStore("postgres");
    for (let round = 0; round < 15; round++) {
      const ids = (await db.query<{ run_id: string }>(
        `insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, status,
                                 worker_id, fence, locked_until)
         select 'default', gen_random_uuid(), 'lock-' || $1 || '-' || i, 'locks', 'RUNNING',
                $2, 1, now() + interval '1 minute'
         from generate_series(1, 200) i
         returning run_id::text`,
        [round, worker],
      )).map((r) => r.run_id);
      const up = [...ids].sort();
      const down = [...up].reverse();
      const fences = ids.map(() => "1");
      const heartbeat = (order: string[]) =>
        extendLeases(db, "default", worker, order, fences, 60_000);
      const steps = (order: string[]) =>
        completeSteps(
          db,
          order.map((runId) => ({
            key: {
              namespaceId: "default",
              runId,
              fence: "1",
              workerId: worker,
              kind: "FUNCTION" as const,
              name: "a",
              occurrence: 1,
            },
            output: json,
            startedAt: null,
          })),
        );
      const ends = (order: string[]) =>
        completeRuns(
          db,
          order.map((runId) => ({ namespaceId: "default", runId, fence: "1", output: json })),
        );
      const [beats, stored, beatsBack] = await Promise.all([
        heartbeat(up),
        steps(down),
        heartbeat(down),
      ]);
      assert.equal(beats.length, 200);
      assert.equal(beatsBack.length, 200);
      assert.ok(stored.every((s) => s.held && s.attempt === 1));
      const [ended, lastBeats] = await Promise.all([ends(down), heartbeat(up)]);
      assert.equal(ended.filter((e) => e !== undefined).length, 200, `round ${round}`);
      // The heartbeat met each run before or after its end: extended, or no longer held.
      assert.ok(lastBeats.length <= 200);
    }
  },
});
