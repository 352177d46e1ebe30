import assert from "node:assert/strict";
import { Batcher } from "./batcher.ts";

Deno.test("Batcher writes calls that arrive during a flush together, each getting its own result", async () => {
  const batches: number[][] = [];
  const b = new Batcher<number, number>(async (items) => {
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

Deno.test("Batcher rejects every call of a failed batch and keeps going", async () => {
  let fail = true;
  const b = new Batcher<string, string>((items) => {
    if (fail) {
      fail = false;
      return Promise.reject(new Error("db down"));
    }
    return Promise.resolve(items.map((s) => s.toUpperCase()));
  });
  await assert.rejects(b.add("a"), /db down/);
  assert.equal(await b.add("b"), "B");
});

Deno.test("Batcher settles each call of a failed batch alone, so one bad item fails only itself", async () => {
  const flushed: string[][] = [];
  const b = new Batcher<string, string>(async (items) => {
    flushed.push(items);
    await new Promise((r) => setTimeout(r, 1));
    if (items.includes("poison")) throw new Error(`cannot store "poison"`);
    return items.map((s) => s.toUpperCase());
  });
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
});
