/**
 * The error a workflow catches from a failed step is the same after its worker is killed with
 * `kill -9` and another worker replays the run from its history: name, message, stack and cause
 * chain, as the first execution saw them — and as the client reads them. Real server and worker
 * processes, both backends.
 */
import assert from "node:assert/strict";
import { Kagzi, WorkflowFailedError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, startWorker, waitFor } from "./_worker.ts";
import { workerIdOf } from "./_crash.ts";
import { type ErrorView, errorView } from "./_failures.ts";

for (const backend of await backends()) {
  Deno.test(
    `a caught step error and its causes are the same after kill -9 and a replay (${backend})`,
    async () => {
      await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
      const client = await Kagzi.connect(server.url);
      const holdFile = await Deno.makeTempFile({ prefix: "kagzi_hold_" });
      try {
        const opts = { types: ["charge-declined"] };
        await using first = await startWorker(server.url, opts);
        const run = await client.start("charge-declined").input({ holdFile });
        // "seen" (what the first execution caught) is stored; the run holds in step "hold".
        await waitFor(
          "step seen to be stored",
          async () =>
            (await client.listSteps(run.id)).some((s) =>
              s.name === "seen" && s.status === "COMPLETED"
            ),
        );
        first.kill("SIGKILL");
        assert.equal((await first.status).signal, "SIGKILL");
        await Deno.remove(holdFile);
        await using second = await startWorker(server.url, opts);

        const e = await run.result({ timeout: "60s" }).then(() => undefined, (e) => e);
        assert.ok(e instanceof WorkflowFailedError, String(e));
        const steps = await client.listSteps(run.id);
        const only = (name: string) => {
          const rows = steps.filter((s) => s.name === name && s.status === "COMPLETED");
          assert.equal(rows.length, 1, `one stored ${name}`);
          return rows[0];
        };
        const seen = only("seen");
        const again = only("seen-again");
        assert.equal(seen.workerId, workerIdOf(first), "seen by the first execution");
        assert.equal(again.workerId, workerIdOf(second), "seen again by the replay");
        assert.deepEqual(again.output, seen.output);

        const view = seen.output as ErrorView;
        const chain: string[] = [];
        for (let v: ErrorView | undefined = view; v; v = v.cause as ErrorView | undefined) {
          chain.push(`${v.name}: ${v.message}`);
          if (v !== view) assert.match(v.stack!, /\n\s+at .*_failures\.ts:\d+/, v.name);
        }
        assert.deepEqual(chain, [
          'StepFailedError: Step "charge" failed: card declined',
          "NonRetryableError: card declined",
          "RangeError: out of range!",
          "Error: root",
        ]);
        // The client reads the same: the run's error is the rethrown step error.
        const { error } = await client.get(run.id);
        const thrown = view.cause as ErrorView;
        assert.deepEqual(errorView(error), { ...thrown, message: view.message });
        assert.deepEqual(errorView(e.cause), errorView(error));
      } finally {
        await Deno.remove(holdFile).catch(() => {});
      }
    },
  );
}
