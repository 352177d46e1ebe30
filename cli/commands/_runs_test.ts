/** `waitForEnd`, the CLI's `run result` wait, against a stand-in client. */
import assert from "node:assert/strict";
import type { Kagzi, KagziError, Workflow } from "@kagzi/sdk";
import { waitForEnd } from "./_runs.ts";

/** A client whose every read answers `status`, noting when (ms since `t0`). */
function fakeClient(status: Workflow["status"], reads: number[], t0: number): Kagzi {
  const get = (id: string) => {
    reads.push(Date.now() - t0);
    return Promise.resolve({ id, status } as Workflow);
  };
  return { get } as unknown as Kagzi;
}

Deno.test("waitForEnd returns a run that has ended whatever the timeout", async () => {
  const w = await waitForEnd(fakeClient("COMPLETED", [], Date.now()), "r-1", 0);
  assert.equal(w.status, "COMPLETED");
});

Deno.test("waitForEnd says TIMEOUT only after a read at its timeout found the run open", async () => {
  const reads: number[] = [];
  const t0 = Date.now();
  await assert.rejects(
    waitForEnd(fakeClient("RUNNING", reads, t0), "r-1", 450),
    (e: KagziError) => {
      assert.equal(e.code, "TIMEOUT");
      assert.equal(e.message, "Run r-1 did not end within 450 ms");
      return true;
    },
  );
  assert.ok(reads.at(-1)! >= 450, `the last read was at ${reads.at(-1)} ms`);
});
