/**
 * A stored failure comes back as it was thrown, on both backends with a real server: its name,
 * message, stack (where it was thrown, not where it is read) and cause chain, through
 * `client.get().error`, `listSteps()[i].error`, `result()`'s WorkflowFailedError and the
 * StepFailedError a workflow catches (whose `cause` is the step's error) — the same in a replay
 * as in the first execution; causes are stored 3 deep, bounded in size.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, KagziError, Retry, Worker, WorkflowFailedError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { chargeDeclined, type ErrorView, errorView } from "./_failures.ts";

function throwRange(): never {
  throw new RangeError("out of range!");
}
const boom = async (ctx: Context) => {
  await ctx.step("boom").retry(Retry.none()).run(throwRange);
};
const outer = () => {
  throw new Error("outer", { cause: new TypeError("inner") });
};
let executions = 0;
const declinedRun = (ctx: Context, input: { deep?: boolean }) => {
  executions++;
  return chargeDeclined(ctx, input);
};
const parent = async (ctx: Context) => {
  try {
    await ctx.child("c").run("charge-declined", {});
  } catch (e) {
    return errorView(e);
  }
};

/** The failed run's error, as `result()` rejects with it. */
async function failureOf(p: Promise<unknown>): Promise<WorkflowFailedError> {
  const e = await p.then(() => undefined, (e) => e);
  assert.ok(e instanceof WorkflowFailedError, String(e));
  return e;
}

for (const backend of await backends()) {
  Deno.test(`a stored failure keeps its name, stack and cause (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const worker = await Worker.builder(server.url).logger(false).holdSleeps(0).workflows({
      boom,
      outer,
      "charge-declined": declinedRun,
      parent,
    }).build();
    const running = worker.run();
    try {
      const client = await Kagzi.connect(server.url);

      await t.step("a step's RangeError: client.get(), listSteps(), result()", async () => {
        const run = await client.start("boom");
        const e = await failureOf(run.result({ timeout: "30s" }));
        assert.equal(e.name, "WorkflowFailedError");
        assert.equal(e.metadata.name, "RangeError");
        const { error } = await client.get(run.id);
        assert.ok(error instanceof KagziError);
        assert.equal(error.name, "RangeError");
        assert.equal(error.metadata.name, "RangeError", "kept for compatibility");
        assert.equal(error.message, 'Step "boom" failed: out of range!');
        // The stack of the throw in the step, not of this client's call.
        assert.match(
          error.stack!,
          /^RangeError: out of range!\n\s+at throwRange \(.*error_details_test\.ts/,
        );
        assert.deepEqual(errorView(e.cause), errorView(error));
        const [step] = await client.listSteps(run.id);
        assert.equal(step.error?.name, "RangeError");
        assert.equal(step.error?.message, "out of range!");
        assert.equal(step.error?.stack, error.stack);
        assert.equal(step.error?.cause, undefined);
      });

      await t.step(
        "a step error's cause reaches the workflow's catch and the client, the same after a replay",
        async () => {
          executions = 0;
          const run = await client.start("charge-declined").input({});
          const e = await failureOf(run.result({ timeout: "30s" }));
          assert.ok(executions >= 2, `the sleep suspended the run: ${executions} executions`);
          const steps = await client.listSteps(run.id);
          const out = (name: string) => steps.find((s) => s.name === name)!.output as ErrorView;
          const seen = out("seen");
          assert.deepEqual(
            out("seen-again"),
            seen,
            "the replay rebuilt the error the run saw first",
          );
          // StepFailedError → the step's NonRetryableError → its RangeError cause → "root".
          assert.equal(seen.name, "StepFailedError");
          assert.equal(seen.message, 'Step "charge" failed: card declined');
          assert.equal(seen.metadataName, "NonRetryableError");
          const thrown = seen.cause as ErrorView;
          assert.deepEqual([thrown.name, thrown.message], ["NonRetryableError", "card declined"]);
          assert.match(thrown.stack!, /^NonRetryableError: card declined\n.*_failures\.ts/s);
          const cause = thrown.cause as ErrorView;
          assert.deepEqual([cause.name, cause.message], ["RangeError", "out of range!"]);
          assert.match(cause.stack!, /^RangeError: out of range!\n\s+at declined .*_failures\.ts/);
          const root = cause.cause as ErrorView;
          assert.deepEqual([root.name, root.message, root.cause], ["Error", "root", undefined]);
          // The client reads the same chain: the run's error (rethrown), the step's, result()'s.
          const { error } = await client.get(run.id);
          assert.deepEqual(errorView(error), {
            ...thrown,
            message: 'Step "charge" failed: card declined',
          });
          assert.deepEqual(errorView(e.cause), errorView(error));
          const charge = steps.find((s) => s.name === "charge")!;
          assert.deepEqual(errorView(charge.error), thrown);
        },
      );

      await t.step("an error thrown by the workflow keeps its cause", async () => {
        const run = await client.start("outer");
        const e = await failureOf(run.result({ timeout: "30s" }));
        const { error } = await client.get(run.id);
        assert.deepEqual([error?.name, error?.message], ["Error", "outer"]);
        const cause = error?.cause as KagziError;
        assert.deepEqual([cause.name, cause.message], ["TypeError", "inner"]);
        assert.match(cause.stack!, /^TypeError: inner\n\s+at \S*outer .*error_details_test\.ts/);
        assert.deepEqual(errorView(e.cause), errorView(error));
      });

      await t.step("a failed child's error reaches its parent with stack and causes", async () => {
        const run = await client.start("parent");
        const seen = await run.result({ timeout: "30s" }) as ErrorView;
        const [child] = (await client.list().parent(run.id)).workflows;
        assert.equal(seen.name, "WorkflowFailedError");
        assert.equal(
          seen.message,
          `Workflow run ${child.id} failed: Step "charge" failed: card declined`,
        );
        assert.deepEqual(seen.cause, errorView((await client.get(child.id)).error));
        const thrown = seen.cause as ErrorView;
        assert.match(thrown.stack!, /^NonRetryableError: card declined\n.*_failures\.ts/s);
        assert.equal((thrown.cause as ErrorView).name, "RangeError");
      });

      await t.step("causes are stored 3 deep, each bounded, and replayed as stored", async () => {
        const run = await client.start("charge-declined").input({ deep: true });
        await failureOf(run.result({ timeout: "30s" }));
        const steps = await client.listSteps(run.id);
        const out = (name: string) => steps.find((s) => s.name === name)!.output as ErrorView;
        const seen = out("seen");
        assert.deepEqual(out("seen-again"), seen);
        let e = seen.cause as ErrorView;
        const sizes = [];
        while (e) {
          sizes.push([e.message.length, e.stack!.length]);
          assert.equal(e.name, "Error");
          assert.match(e.message, new RegExp(`^level ${sizes.length} m+$`));
          e = e.cause as ErrorView;
        }
        assert.deepEqual(sizes, [[8192, 16384], [4096, 8192], [4096, 8192], [4096, 8192]]);
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
