import assert from "node:assert/strict";
import { afterMicrotasks, nextMacrotask, scheduler } from "./_tick.ts";

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

Deno.test("scheduler: an immediate, else a message channel, else a zero timer; each after the microtasks", async () => {
  const channels: MessageChannel[] = [];
  class Tracked extends MessageChannel {
    constructor() {
      super();
      channels.push(this);
    }
  }
  let immediates = 0;
  const runtimes = {
    immediate: { setImmediate: (fn: () => void) => (immediates++, setTimeout(fn, 0)) },
    channel: { MessageChannel: Tracked },
    timer: {},
  };
  try {
    for (const [name, g] of Object.entries(runtimes)) {
      const schedule = scheduler(g);
      const seen: string[] = [];
      const done = new Promise<void>((resolve) => {
        schedule(() => seen.push("first"));
        schedule(() => {
          seen.push("second");
          resolve();
        });
      });
      void Promise.resolve().then(() => seen.push("microtask"));
      await done;
      assert.deepEqual(seen, ["microtask", "first", "second"], name);
    }
    assert.equal(immediates, 2);
    assert.equal(channels.length, 1, "one channel, made when first asked for");
  } finally {
    for (const c of channels) {
      c.port1.close();
      c.port2.close();
    }
  }
});
