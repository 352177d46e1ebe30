/**
 * Odd values at a step's edges: any thrown value is a normal failed attempt of that step,
 * retried by its policy; a value JSON would change is refused at the step that produced it.
 * Runs on the server in this process (the logic under test is the SDK's), on Postgres when
 * available.
 */
import assert from "node:assert/strict";
import {
  type Context,
  Kagzi,
  KagziError,
  Retry,
  StepFailedError,
  Worker,
  WorkflowFailedError,
} from "@kagzi/sdk";
import { createServer, loadConfig } from "../server/mod.ts";
import { backends, freshDatabase } from "./_db.ts";
import { migratedDataDir } from "./_pgdata.ts";

function circular(): unknown {
  const o: Record<string, unknown> = { reason: "card declined", amount: 10n };
  o.self = o;
  return o;
}

/** Step executions per run (a retry replays the workflow, so it is counted out here). */
const tries = new Map<string, number>();

/** Throws `value` from a step on every attempt (three, 10 ms apart); returns what it saw. */
function thrower(value: () => unknown) {
  return async (ctx: Context) => {
    try {
      await ctx.step("charge").retry(Retry.linear(3, "10ms")).run(() => {
        tries.set(ctx.runId, (tries.get(ctx.runId) ?? 0) + 1);
        throw value();
      });
      return { ok: true };
    } catch (err) {
      if (!(err instanceof StepFailedError)) throw err;
      return { caught: err.name, message: err.message, tries: tries.get(ctx.runId) };
    }
  };
}

const returns = (value: () => unknown) => (ctx: Context) => ctx.step("produce").run(value);

Deno.test("odd values at a step's edges fail that step clearly, never the run's bookkeeping", async (t) => {
  const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
  await using db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await migratedDataDir("kagzi_values_");
  const server = await createServer(loadConfig({
    ...(db ? { DATABASE_URL: db.url } : { KAGZI_DATA_DIR: dataDir }),
    KAGZI_LOG_LEVEL: "warn",
  }));
  const worker = await Worker.builder(server).workflows({
    circularThrow: thrower(circular),
    bigintThrow: thrower(() => 12n),
    undefinedThrow: thrower(() => undefined),
    returnsMap: returns(() => new Map([["a", 1]])),
    returnsSet: returns(() => ({ tags: new Set(["x"]) })),
    returnsDate: returns(() => ({ order: { at: new Date(0) } })),
    returnsBigint: returns(() => [1, 2n]),
    returnsClass: returns(() => ({ money: new (class Money {})() })),
    returnsNaN: returns(() => ({ ratio: NaN })),
    returnsPlain: returns(() => ({ a: [1, "two", null, true, { b: -3.5 }], skipped: undefined })),
    outputMap: () => Promise.resolve(new Map()),
  }).build();
  const running = worker.run();
  try {
    const client = await Kagzi.connect(server);

    for (
      const [type, message] of [
        ["circularThrow", /"reason":"card declined","amount":"10n","self":"\[Circular\]"/],
        ["bigintThrow", /12n/],
        ["undefinedThrow", /undefined/],
      ] as const
    ) {
      await t.step(`${type}: three failed attempts of "charge", then StepFailedError`, async () => {
        const run = await client.start(type);
        const out = await run.result({ timeout: "20s" }) as Record<string, unknown>;
        assert.equal(out.caught, "StepFailedError");
        assert.equal(out.tries, 3, "retried by its policy");
        assert.match(String(out.message), /charge/, "the step is named");
        assert.match(String(out.message), message);
        const attempts = (await client.listSteps(run.id)).filter((s) => s.name === "charge");
        assert.deepEqual(attempts.map((s) => s.status), ["FAILED", "FAILED", "FAILED"]);
        for (const a of attempts) assert.match(a.error?.message ?? "", message);
      });
    }

    await t.step(
      "a returned value JSON would change fails its step, once, saying why",
      async () => {
        for (
          const [type, why] of [
            ["returnsMap", /the value: a Map would come back as \{\}/],
            ["returnsSet", /at \.tags: a Set would come back as \{\}/],
            ["returnsDate", /at \.order\.at: a Date would come back as a string/],
            ["returnsBigint", /at \[1\]: a BigInt \(2n\)/],
            ["returnsClass", /at \.money: a Money instance would come back as a plain object/],
            ["returnsNaN", /at \.ratio: NaN is not a JSON number/],
          ] as const
        ) {
          const run = await client.start(type);
          const err = await run.result({ timeout: "20s" }).then(
            () => assert.fail(`${type} completed`),
            (e) => e,
          );
          assert.ok(err instanceof WorkflowFailedError, String(err));
          assert.match(err.message, /output of step "produce" cannot be stored as JSON/, type);
          assert.match(err.message, why, type);
          const attempts = (await client.listSteps(run.id)).filter((s) => s.name === "produce");
          assert.equal(attempts.length, 1, `${type}: not retried (the same code returns the same)`);
        }
      },
    );

    await t.step("JSON values round-trip exactly; undefined properties are left out", async () => {
      const out = await (await client.start("returnsPlain")).result({ timeout: "20s" });
      assert.deepEqual(out, { a: [1, "two", null, true, { b: -3.5 }] });
    });

    await t.step("a workflow output and a start input are checked the same way", async () => {
      const run = await client.start("outputMap");
      await assert.rejects(
        run.result({ timeout: "20s" }),
        (e: Error) => /workflow output cannot be stored as JSON: the value: a Map/.test(e.message),
      );
      await assert.rejects(
        async () => await client.start("returnsPlain").input({ when: new Date() }),
        (e: KagziError) => e.code === "INVALID_ARGUMENT" && /at \.when: a Date/.test(e.message),
      );
    });
  } finally {
    await worker.shutdown();
    await running;
    await server.close();
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
