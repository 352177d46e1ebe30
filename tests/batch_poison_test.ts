/**
 * Group commit with a poisoned item: the server's Batcher driven directly with the
 * real store functions on a real database, with one item that validation would
 * have refused forced into the batch (a NUL character in payload metadata, which
 * Postgres cannot store in jsonb). Every other item of the batch must be written.
 */
import assert from "node:assert/strict";
import { groupCommit } from "../server/engine/batcher.ts";
import { noMetrics } from "../server/metrics.ts";
import type { Logger } from "../server/log.ts";
import * as queue from "../server/store/queue.ts";
import * as ends from "../server/store/run_ends.ts";
import * as starts from "../server/store/run_starts.ts";
import * as steps from "../server/store/steps.ts";
import * as stepResults from "../server/store/step_results.ts";
import { backends } from "./_db.ts";
import { openStore } from "./_store.ts";

const ns = "innocent";
const poison = { data: new TextEncoder().encode('"x"'), metadata: { k: "a\u0000b" } };
const output = (i: number) => ({
  data: new TextEncoder().encode(JSON.stringify({ i, s: "with \u0000 inside JSON" })),
  metadata: { encoding: "json" },
});

/** A Batcher over `flush` that records the size of every statement it runs. */
/** The server's group commit around `flush`, with the sizes it flushed and the splits it reported. */
function recording<I, O>(flush: (items: I[]) => Promise<O[]>) {
  const sizes: number[] = [];
  const splits: string[] = [];
  const warnings: string[] = [];
  const nothing = () => {};
  const log: Logger = {
    debug: nothing,
    info: nothing,
    error: nothing,
    warn: (m) => warnings.push(m),
  };
  const metrics = { ...noMetrics, batchSplit: (name: string) => splits.push(name) };
  const batcher = groupCommit<I, O>({ log, metrics }, "poisoned", (items) => {
    sizes.push(items.length);
    return flush(items);
  });
  return { batcher, sizes, splits, warnings };
}

const rejectsWithPostgresText = (e: { code?: string }) => {
  assert.ok(e.code === "22P05" || e.code === "22021", `a text error from Postgres, got ${e}`);
  return true;
};

for (const backend of await backends()) {
  Deno.test(`a group-commit batch with a poisoned item still writes every other item (${backend})`, async (t) => {
    await using db = await openStore(backend);
    const n = 20;
    const bad = 7; // the poisoned item's place in each batch
    const newRun = (i: number): starts.NewRun => ({
      namespaceId: ns,
      runId: crypto.randomUUID(),
      workflowId: `w-${i}`,
      workflowType: "t",
      version: "",
      deadlineAt: null,
      retryPolicy: null,
      input: i === bad ? poison : output(i),
      context: null,
      scheduleId: null,
    });

    await t.step("insertRuns: a clean batch is one statement that stores every start", async () => {
      // Called directly (no batcher to fall back to one statement per item on an error).
      const items = Array.from(
        { length: 5 },
        (_, i) => ({ ...newRun(n + i), namespaceId: "clean", workflowId: `clean-${i}` }),
      );
      const stored = await starts.insertRuns(db, items);
      assert.deepEqual(stored.map((r) => r?.run_id), items.map((i) => i.runId));
    });

    await t.step("insertRuns: the poisoned start fails, the others are stored", async () => {
      const { batcher, sizes, splits, warnings } = recording((items: starts.NewRun[]) =>
        starts.insertRuns(db, items)
      );
      const items = Array.from({ length: n }, (_, i) => newRun(i));
      const results = await Promise.allSettled(items.map((item) => batcher.add(item)));
      assert.equal(sizes[0], n, "all starts were offered in one statement first");
      // The fallback to one statement per start is counted and warned about, not silent.
      assert.deepEqual(splits, ["poisoned"]);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /group commit "poisoned": a batch of 20 failed/);
      for (const [i, r] of results.entries()) {
        if (i === bad) {
          assert.equal(r.status, "rejected");
          rejectsWithPostgresText((r as PromiseRejectedResult).reason);
        } else {
          assert.equal(r.status, "fulfilled", `start ${i}: ${JSON.stringify(r)}`);
          // Each start gets its own stored run back, not another item's.
          const value = (r as PromiseFulfilledResult<starts.InsertedRun | undefined>).value;
          assert.equal(value?.run_id, items[i].runId, `start ${i} got another run back`);
          const [row] = await db.query<{ workflow_id: string }>(
            "select workflow_id from kagzi_runs where namespace_id = $1 and run_id = $2",
            [ns, items[i].runId],
          );
          assert.equal(row?.workflow_id, `w-${i}`);
        }
      }
      const count = await db.query<{ n: string }>(
        "select count(*)::text as n from kagzi_runs where namespace_id = $1",
        [ns],
      );
      assert.equal(Number(count[0].n), n - 1);
    });

    const workerId = crypto.randomUUID();
    const { runs: [claimed] } = await queue.claimRuns(db, ns, ["t"], [""], [{
      workerId,
      limit: 100,
    }], 60_000);
    assert.equal(claimed.length, n - 1);

    await t.step("completeSteps: the poisoned output fails, the others are stored", async () => {
      const { batcher, sizes } = recording((items: stepResults.StepOutput[]) =>
        stepResults.completeSteps(db, items)
      );
      const results = await Promise.allSettled(claimed.map((c, i) =>
        batcher.add({
          key: {
            namespaceId: ns,
            runId: c.run_id,
            fence: c.fence,
            workerId,
            kind: "FUNCTION",
            name: "s",
            occurrence: 1,
          },
          output: i === bad ? poison : output(i),
          startedAt: null,
        })
      ));
      assert.equal(sizes[0], claimed.length);
      for (const [i, r] of results.entries()) {
        if (i === bad) rejectsWithPostgresText((r as PromiseRejectedResult).reason);
        else {
          const v = (r as PromiseFulfilledResult<{ held: boolean; attempt: number }>).value;
          assert.deepEqual([v.held, v.attempt], [true, 1]);
        }
      }
      const stored = await steps.latestSteps(db, ns, claimed.map((c) => c.run_id));
      assert.equal(stored.length, claimed.length - 1);
      // JSON with an escaped NUL inside a string is user data: it is stored as it came.
      const first = stored.find((s) => s.run_id === claimed[0].run_id)!;
      assert.deepEqual(JSON.parse(new TextDecoder().decode(first.output!)), {
        i: 0,
        s: "with \u0000 inside JSON",
      });
    });

    await t.step("completeRuns: the poisoned completion fails, the others complete", async () => {
      const { batcher, sizes } = recording((items: ends.RunOutput[]) =>
        ends.completeRuns(db, items)
      );
      const results = await Promise.allSettled(claimed.map((c, i) =>
        batcher.add({
          namespaceId: ns,
          runId: c.run_id,
          fence: c.fence,
          output: i === bad ? poison : output(i),
        })
      ));
      assert.equal(sizes[0], claimed.length);
      for (const [i, r] of results.entries()) {
        if (i === bad) rejectsWithPostgresText((r as PromiseRejectedResult).reason);
        else assert.ok((r as PromiseFulfilledResult<unknown>).value, `item ${i} was not completed`);
      }
      const statuses = await db.query<{ status: string; n: string }>(
        `select status, count(*)::text as n from kagzi_runs where namespace_id = $1
         group by status order by status`,
        [ns],
      );
      assert.deepEqual(statuses.map((s) => [s.status, Number(s.n)]), [
        ["COMPLETED", claimed.length - 1],
        ["RUNNING", 1],
      ]);
    });
  });
}
