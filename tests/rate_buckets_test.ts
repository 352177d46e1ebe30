/**
 * The GCRA token bucket of rate limits (store/rate_buckets.ts, kagzi_take_token of migration
 * 0011) against the real databases, at explicit times: for random sequences of takes, no window
 * of `period` holds more than `limit` taken tokens, no two are closer than half an interval, a
 * take a whole period after the last token is never refused, and a refused caller is told a
 * time in the future.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { sweepIdleBuckets, takeToken } from "../server/store/rate_buckets.ts";
import { backends } from "./_db.ts";
import { openStore } from "./_store.ts";
import { slidingMax } from "./_windows.ts";

const epoch = Date.UTC(2030, 0, 1);

for (const backend of await backends()) {
  Deno.test(`GCRA buckets keep every window within the limit on ${backend}`, async () => {
    await using db = await openStore(backend);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 10, max: 2000 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 40 }),
        fc.constantFrom("step" as const, "run" as const),
        async (limit, periodMs, gaps, kind) => {
          const bucket = {
            namespaceId: "default",
            kind,
            name: "p",
            key: `${n++}`,
          };
          const interval = periodMs / limit;
          const taken: number[] = [];
          let at = epoch;
          for (const gap of gaps) {
            at += gap;
            const take = await takeToken(db, bucket, limit, periodMs, new Date(at));
            const last = taken.at(-1);
            if (take.taken) {
              const spacing = kind === "step" ? interval : interval / 2;
              assert.ok(last === undefined || at - last >= spacing, "never a burst");
              taken.push(at);
            } else {
              assert.ok(take.retryAt.getTime() > at, "a refused caller is told a later time");
              assert.ok(last !== undefined && at - last < periodMs, "refused only within a period");
            }
          }
          assert.ok(slidingMax(taken, periodMs) <= limit, `at most ${limit} per ${periodMs} ms`);
        },
      ),
      { numRuns: 40 },
    );
  });

  Deno.test(`waiters refused together are told times an interval apart on ${backend}`, async () => {
    await using db = await openStore(backend);
    const bucket = { namespaceId: "default", kind: "run" as const, name: "w", key: "" };
    const at = new Date(epoch);
    assert.deepEqual(await takeToken(db, bucket, 5, 1000, at), { taken: true });
    const told: number[] = [];
    for (let i = 0; i < 4; i++) {
      const take = await takeToken(db, bucket, 5, 1000, at);
      assert.equal(take.taken, false);
      if (!take.taken) told.push(take.retryAt.getTime() - epoch);
    }
    // The next token frees half an interval after the last; each waiter is an interval apart.
    assert.deepEqual(told, [100, 300, 500, 700]);
    // The first waiter, back at its time, gets the token.
    assert.deepEqual(await takeToken(db, bucket, 5, 1000, new Date(epoch + 100)), { taken: true });
    // Five tokens in the first 1 s at most, however often callers come.
    let n = 2;
    for (let t = 150; t < 1000; t += 10) {
      if ((await takeToken(db, bucket, 5, 1000, new Date(epoch + t))).taken) n++;
    }
    assert.equal(n, 5);
  });

  Deno.test(`buckets idle for a minute are swept, busy ones kept, on ${backend}`, async () => {
    await using db = await openStore(backend);
    const idle = { namespaceId: "default", kind: "run" as const, name: "t", key: "idle" };
    const busy = { ...idle, key: "busy" };
    await takeToken(db, idle, 1, 1000, new Date(Date.now() - 120_000));
    await takeToken(db, busy, 1, 1000);
    assert.equal(await sweepIdleBuckets(db, 60_000, 100), 1);
    const rows = await db.query<{ key: string }>("select key from kagzi_rate_buckets");
    assert.deepEqual(rows.map((r) => r.key), ["busy"]);
  });
}
