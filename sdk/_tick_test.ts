import assert from "node:assert/strict";
import { afterMicrotasks, nextMacrotask } from "./_tick.ts";

Deno.test("afterMicrotasks: after the pending microtasks, in order, one macrotask for all", async () => {
  const seen: string[] = [];
  afterMicrotasks(() => seen.push("a"));
  afterMicrotasks(() => {
    seen.push("b");
    // Asked for while the batch runs: the next macrotask, after this batch's microtasks.
    afterMicrotasks(() => seen.push("d"));
    queueMicrotask(() => seen.push("c (microtask of b)"));
  });
  afterMicrotasks(() => {
    throw new Error("one callback's error");
  });
  afterMicrotasks(() => seen.push("b2"));
  // Microtasks queued now (a chain of them) run first.
  void Promise.resolve().then(() => Promise.resolve()).then(() => seen.push("microtask"));
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    await nextMacrotask();
    await nextMacrotask();
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  assert.deepEqual(seen, ["microtask", "a", "b", "b2", "c (microtask of b)", "d"]);
  assert.equal(errors.length, 1);
});
