/**
 * The SDK refuses a bad argument as INVALID_ARGUMENT naming the field and the value, before any
 * request — never an INTERNAL error from a conversion — and says what to use instead: invalid
 * Dates, `retries(0)`, `holdSleeps("10s")`, a stream offset that is not one, protocol "grpc"
 * pointed at the Connect port. Against a real server.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, KagziError, Retry, Worker, WorkflowFailedError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

/** Asserts that `p` rejects with INVALID_ARGUMENT about `field`, its message matching `message`. */
async function assertInvalid(p: Promise<unknown>, field: string, message: RegExp) {
  await assert.rejects(p, (e: KagziError) => {
    assert.ok(e instanceof KagziError, String(e));
    assert.equal(e.code, "INVALID_ARGUMENT", e.message);
    assert.equal(e.subject, field, e.message);
    assert.match(e.message, message);
    return true;
  });
}

async function sleepsUntil(ctx: Context, input: { at: string }) {
  await ctx.sleepUntil("then", new Date(input.at));
  return "woke";
}

const backend = (await backends()).at(-1)!; // Postgres when there is one: quicker to start
Deno.test(`the SDK refuses bad arguments naming the field (${backend})`, async (t) => {
  await using server = await startTestServer(backend);
  const client = await Kagzi.connect(server.url);

  await t.step("an invalid Date names deadline, since or until", async () => {
    await assertInvalid(
      client.start("simple").input({}).deadline(new Date("nope")),
      "deadline",
      /^Cannot start workflow "simple": "deadline" must be a valid Date, not an invalid Date$/,
    );
    await assertInvalid(
      client.bulk().type("simple").since(new Date("x")).cancel(),
      "since",
      /^Cannot start a bulk cancel: "since" must be a valid Date, not an invalid Date$/,
    );
    await assertInvalid(
      client.bulk().type("simple").until(new Date(NaN)).rerun(),
      "until",
      /"until" must be a valid Date, not an invalid Date$/,
    );
    await assertInvalid(
      client.bulk().type("simple").since("2024-01-01" as unknown as Date).pause(),
      "since",
      /"since" must be a valid Date, not the string "2024-01-01"$/,
    );
    // Nothing was started or stored.
    assert.equal((await client.list().type("simple")).workflows.length, 0);
  });

  await t.step("ctx.sleepUntil with an invalid Date fails the run naming date", async () => {
    const worker = await Worker.builder(server.url).workflow("sleeps-until", sleepsUntil).build();
    const running = worker.run();
    try {
      const run = await client.start("sleeps-until").input({ at: "not a time" });
      await assert.rejects(run.result({ timeout: "30s" }), (e: Error) => {
        assert.ok(e instanceof WorkflowFailedError, String(e));
        assert.match(
          e.message,
          /ctx\.sleepUntil\("then"\): "date" must be a valid Date, not an invalid Date/,
        );
        return true;
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });

  await t.step("retries(0) says that it counts attempts, the first included", () => {
    for (
      const [call, subject] of [
        [() => Worker.builder(server.url).retries(0), "retries"],
        [() => Retry.attempts(0), "attempts"],
      ] as const
    ) {
      assert.throws(call, (e: KagziError) => {
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.equal(e.subject, subject);
        assert.match(e.message, /the first (included|attempt counts too)/);
        assert.match(e.message, /use a whole number from 1 \(no retry\) to 1000000/);
        return true;
      });
    }
    Worker.builder(server.url).retries(1); // one attempt: no retry
  });

  await t.step("holdSleeps over the server's 5 s is refused naming holdSleeps", () => {
    for (const d of ["10s", 5_001, "1 day"]) {
      assert.throws(() => Worker.builder(server.url).holdSleeps(d), (e: KagziError) => {
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.equal(e.subject, "holdSleeps");
        assert.match(e.message, /^Invalid holdSleeps .+: at most 5s /);
        return true;
      });
    }
    Worker.builder(server.url).holdSleeps("5s").holdSleeps(0); // the limit and none: accepted
  });

  await t.step("a stream offset that is not one names the value", async () => {
    const h = client.handle(crypto.randomUUID());
    for (
      const [from, shown] of [
        ["abc", '"abc"'],
        [1.5, "1.5"],
        ["1e2", '"1e2"'],
        [12345678901234567890, "12345678901234567000"],
        [-1, "-1"],
      ] as const
    ) {
      const read = async () => {
        for await (const _ of h.stream("progress", { from: from as number })) break;
      };
      await assertInvalid(
        read(),
        "from",
        new RegExp(
          `^Cannot read stream "progress": "from" must be a whole number from 0 to ` +
            `9007199254740991 \\(an offset\\), not ${shown.replace(".", "\\.")}$`,
        ),
      );
    }
  });

  await t.step('protocol "grpc" on the Connect port: answered, not a gRPC endpoint', async () => {
    const t0 = Date.now();
    const wrong = (e: KagziError) => {
      assert.equal(e.code, "INVALID_ARGUMENT", e.message);
      assert.equal(e.subject, "protocol");
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, /answered, but not as a gRPC endpoint \(HTTP 415\)/);
      assert.match(e.message, /--grpc-port/);
      assert.match(e.message, /protocol "connect"/);
      return true;
    };
    await assert.rejects(Kagzi.connect(server.url, { protocol: "grpc" }), wrong);
    await assert.rejects(
      Worker.builder(server.url).protocol("grpc").workflow("x", () => Promise.resolve(1))
        .build(),
      wrong,
    );
    assert.ok(Date.now() - t0 < 5_000, "not retried");
  });
});
