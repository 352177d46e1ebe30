/** The micro-batcher shared by the worker's Report batching and the server's group commit. */
import assert from "node:assert/strict";
import { ItemError, MicroBatcher } from "./batcher.ts";

Deno.test("MicroBatcher writes calls that arrive during a flush together, each getting its own result", async () => {
  const batches: number[][] = [];
  const b = new MicroBatcher<number, number>(async (items) => {
    batches.push(items);
    await new Promise((r) => setTimeout(r, 20));
    return items.map((i) => i * 10);
  });
  const first = b.add(1);
  await new Promise((r) => setTimeout(r, 5));
  const rest = [b.add(2), b.add(3), b.add(4)];
  assert.deepEqual(await Promise.all([first, ...rest]), [10, 20, 30, 40]);
  assert.deepEqual(batches, [[1], [2, 3, 4]]);
});

Deno.test("MicroBatcher rejects every call of a failed batch and keeps going", async () => {
  let fail = true;
  const b = new MicroBatcher<string, string>((items) => {
    if (fail) {
      fail = false;
      return Promise.reject(new Error("db down"));
    }
    return Promise.resolve(items.map((s) => s.toUpperCase()));
  });
  await assert.rejects(b.add("a"), /db down/);
  assert.equal(await b.add("b"), "B");
});

Deno.test("MicroBatcher settles each call of a failed batch alone, so one bad item fails only itself", async () => {
  const flushed: string[][] = [];
  const splits: [string, number][] = [];
  const b = new MicroBatcher<string, string>(async (items) => {
    flushed.push(items);
    await new Promise((r) => setTimeout(r, 1));
    if (items.includes("poison")) throw new Error(`cannot store "poison"`);
    return items.map((s) => s.toUpperCase());
  }, { onSplit: (err, size) => splits.push([String(err), size]) });
  const results = await Promise.allSettled(["a", "b", "poison", "c"].map((s) => b.add(s)));
  assert.deepEqual(results.map((r) => r.status === "fulfilled" ? r.value : "rejected"), [
    "A",
    "B",
    "rejected",
    "C",
  ]);
  assert.match(String((results[2] as PromiseRejectedResult).reason), /poison/);
  // One batch, then each item alone, in order.
  assert.deepEqual(flushed, [["a", "b", "poison", "c"], ["a"], ["b"], ["poison"], ["c"]]);
  // The split is reported once, with the batch's failure and size.
  assert.deepEqual(splits, [[`Error: cannot store "poison"`, 4]]);
});

Deno.test("MicroBatcher with splitFailedBatch off rejects every call of a failed batch with its failure", async () => {
  const flushed: string[][] = [];
  const b = new MicroBatcher<string, string>(async (items) => {
    flushed.push(items);
    await new Promise((r) => setTimeout(r, 1));
    throw new Error("server away");
  }, { splitFailedBatch: false });
  const results = await Promise.allSettled(["a", "b"].map((s) => b.add(s)));
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  assert.deepEqual(flushed, [["a", "b"]]);
});

Deno.test("MicroBatcher rejects only the call whose item flush answers with an ItemError", async () => {
  const b = new MicroBatcher<number, number>((items) =>
    Promise.resolve(items.map((i) => i < 0 ? new ItemError(new Error(`negative ${i}`)) : i * 2))
  );
  const results = await Promise.allSettled([1, -1, 3].map((i) => b.add(i)));
  assert.deepEqual(results.map((r) => r.status === "fulfilled" ? r.value : "rejected"), [
    2,
    "rejected",
    6,
  ]);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /negative -1/);
});

Deno.test("MicroBatcher flushes at most maxBatch items at once and maxInFlight batches together", async () => {
  const batches: number[][] = [];
  let inFlight = 0;
  let most = 0;
  const b = new MicroBatcher<number, number>(async (items) => {
    batches.push(items);
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return items;
  }, { maxBatch: 2, maxInFlight: 2 });
  assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map((i) => b.add(i))), [1, 2, 3, 4, 5]);
  assert.deepEqual(batches, [[1, 2], [3, 4], [5]]);
  assert.equal(most, 2);
});
