/**
 * Named rate limits through the client on both backends: API.md's lines run as written;
 * set/get/list/delete; bad input is INVALID_ARGUMENT naming the field and stores nothing; a
 * step over its limit leaves the worker (its run PENDING, no attempt recorded) and runs when a
 * token frees; a step naming an undefined limit fails with INVALID_ARGUMENT (rate_limit).
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, KagziError, StepFailedError, Worker } from "@kagzi/sdk";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { RateLimitService } from "@kagzi/proto";
import { expect, kagzi } from "./_cli.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const callOpenAI = (text: string) => Promise.resolve(`summary of ${text}`);

// API.md, "Flow control": a step under a named limit shared by every worker.
async function summarize(ctx: Context, input: { text: string }) {
  const text = input.text;
  return await ctx.step("summarize").rateLimit("openai").run(() => callOpenAI(text));
}

/** Records, from inside the step, when it ran. */
const slowRan: number[] = [];
async function slow(ctx: Context) {
  await ctx.step("one").rateLimit("slow").run(() => slowRan.push(Date.now()));
  return "done";
}

async function unknownLimit(ctx: Context) {
  try {
    await ctx.step("call").rateLimit("nope").run(() => "never");
  } catch (err) {
    if (err instanceof StepFailedError) {
      return { code: err.code, subject: err.subject, message: err.message };
    }
    throw err;
  }
}

function emptyLimitName(ctx: Context) {
  try {
    ctx.step("call").rateLimit("");
  } catch (err) {
    if (err instanceof KagziError) return Promise.resolve([err.code, err.subject]);
  }
  return Promise.resolve("accepted");
}

async function rejects(p: Promise<unknown>, code: string, subject: string): Promise<void> {
  await assert.rejects(p, (err: KagziError) => {
    assert.equal(err.code, code, err.message);
    assert.equal(err.subject, subject, err.message);
    return true;
  });
}

for (const backend of await backends()) {
  Deno.test(`named rate limits through the client on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: ["--tick-interval-ms", "100"],
    });
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url)
      .workflow("summarize", summarize)
      .workflow("slow", slow)
      .workflow("unknown-limit", unknownLimit)
      .workflow("empty-limit-name", emptyLimitName)
      .build();
    const running = worker.run();
    try {
      await t.step("API.md's example runs as written", async () => {
        await client.setRateLimit("openai", { limit: 60, period: "1m" });
        const run = await client.start("summarize").input({ text: "a long text" });
        assert.equal(await run.result({ timeout: "30s" }), "summary of a long text");
      });

      await t.step("set, get, list and delete", async () => {
        const set = await client.setRateLimit("crud", { limit: 10, period: "1s" });
        assert.deepEqual([set.name, set.limit, set.periodMs], ["crud", 10, 1000]);
        const replaced = await client.setRateLimit("crud", { limit: 3, period: "2 minutes" });
        assert.deepEqual([replaced.limit, replaced.periodMs], [3, 120_000]);
        assert.equal((await client.getRateLimit("crud")).limit, 3);
        const names = (await client.listRateLimits()).map((l) => l.name);
        assert.deepEqual(names, ["crud", "openai"]);
        assert.deepEqual(await client.listRateLimits({ namespace: "other" }), []);
        await client.deleteRateLimit("crud");
        await rejects(client.getRateLimit("crud"), "NOT_FOUND", "rate_limit");
        await rejects(client.deleteRateLimit("crud"), "NOT_FOUND", "rate_limit");
      });

      await t.step("kagzi rate-limit set, list, get and delete", async () => {
        const env = { KAGZI_ADDRESS: server.url };
        const set = expect(
          await kagzi(["rate-limit", "set", "cli", "--limit", "7", "--period", "2s"], env),
          0,
          "set",
        ).json();
        assert.deepEqual([set[0].name, set[0].limit, set[0].periodMs], ["cli", 7, 2000]);
        const listed = expect(await kagzi(["rate-limit", "list"], env), 0, "list").json();
        assert.deepEqual(listed.map((r: { name: string }) => r.name), ["cli", "openai"]);
        expect(
          await kagzi(["rate-limit", "set", "cli", "--limit", "0", "--period", "1s"], env),
          2,
          "limit 0",
        );
        expect(await kagzi(["rate-limit", "delete", "cli"], env), 0, "delete");
        const gone = await kagzi(["rate-limit", "get", "cli"], env);
        assert.notEqual(gone.code, 0);
        assert.match(gone.stderr, /rate limit "cli" is not defined/);
      });

      await t.step("bad input names the field and stores nothing", async () => {
        await rejects(
          client.setRateLimit("x", { limit: 0, period: "1s" }),
          "INVALID_ARGUMENT",
          "limit",
        );
        await rejects(
          client.setRateLimit("x", { limit: -5, period: "1s" }),
          "INVALID_ARGUMENT",
          "limit",
        );
        await rejects(
          client.setRateLimit("x", { limit: 1.5, period: "1s" }),
          "INVALID_ARGUMENT",
          "limit",
        );
        await rejects(
          client.setRateLimit("x", { limit: 5, period: "0s" }),
          "INVALID_ARGUMENT",
          "period",
        );
        await rejects(
          client.setRateLimit("x", { limit: 5, period: "soon" }),
          "INVALID_ARGUMENT",
          "period",
        );
        await rejects(
          client.setRateLimit("x", { limit: 5, period: "60 days" }),
          "INVALID_ARGUMENT",
          "period",
        );
        await rejects(
          client.setRateLimit("", { limit: 5, period: "1s" }),
          "INVALID_ARGUMENT",
          "name",
        );
        await rejects(
          client.setRateLimit("a\u0000b", { limit: 5, period: "1s" }),
          "INVALID_ARGUMENT",
          "name",
        );
        await rejects(
          client.setRateLimit("x".repeat(300), { limit: 5, period: "1s" }),
          "INVALID_ARGUMENT",
          "name",
        );
        await rejects(
          client.setRateLimit("x", { limit: 2_000_000_000, period: "1s" }),
          "INVALID_ARGUMENT",
          "limit",
        );
        await rejects(
          client.setRateLimit("x", { limit: 5, period: "1s", namespace: "bad ns" }),
          "INVALID_ARGUMENT",
          "namespace",
        );
        // The server checks too, whatever a client sends.
        const raw = createClient(RateLimitService, createConnectTransport({ baseUrl: server.url }));
        const period = { seconds: 1n, nanos: 0 };
        for (
          const [req, field] of [
            [{ name: "x", limit: 0, period }, "limit"],
            [{ name: "x", limit: -3, period }, "limit"],
            [{ name: "x", limit: 5 }, "period"],
            [{ name: "x", limit: 5, period: { seconds: 0n, nanos: 0 } }, "period"],
            [{ name: "x", limit: 5, period: { seconds: -1n, nanos: 0 } }, "period"],
            [{ name: "x", limit: 1_000_000_000, period }, "limit"],
            [{ name: "", limit: 5, period }, "name"],
          ] as const
        ) {
          await rejects(
            raw.setRateLimit(req).catch((e) => Promise.reject(KagziError.from(e))),
            "INVALID_ARGUMENT",
            field,
          );
        }
        assert.deepEqual((await client.listRateLimits()).map((l) => l.name), ["openai"]);
      });

      await t.step("a step over its limit waits out of the worker, as no attempt", async () => {
        await client.setRateLimit("slow", { limit: 1, period: "3s" });
        slowRan.length = 0;
        const first = await client.start("slow").input({});
        assert.equal(await first.result({ timeout: "30s" }), "done");
        const second = await client.start("slow").input({});
        await waitFor("the second run to wait on the limit", async () => {
          const w = await client.get(second.id);
          return w.status === "PENDING" && w.startedAt !== undefined;
        });
        assert.ok(worker.stats.suspended >= 1, "the waiting run's execution ended suspended");
        assert.equal((await client.get(second.id)).workerId, undefined, "no worker holds it");
        assert.deepEqual(await client.listSteps(second.id), [], "no attempt was recorded");
        assert.equal(await second.result({ timeout: "30s" }), "done");
        assert.equal(slowRan.length, 2);
        assert.ok(slowRan[1] - slowRan[0] >= 2900, "the second step ran a period after the first");
        const steps = await client.listSteps(second.id);
        assert.deepEqual(steps.map((s) => [s.name, s.attempt, s.status]), [[
          "one",
          1,
          "COMPLETED",
        ]]);
      });

      await t.step("a step naming an undefined limit fails, naming the field", async () => {
        const run = await client.start("unknown-limit").input({});
        const out = await run.result({ timeout: "30s" }) as Record<string, string>;
        assert.equal(out.code, "INVALID_ARGUMENT");
        assert.match(out.message, /rate limit "nope" is not defined/);
        const steps = await client.listSteps(run.id);
        assert.deepEqual(steps.map((s) => [s.name, s.status]), [["call", "FAILED"]]);
        assert.equal(steps[0].error?.subject, "rate_limit");
      });

      await t.step("an empty limit name is refused inside the workflow", async () => {
        const run = await client.start("empty-limit-name").input({});
        assert.deepEqual(await run.result({ timeout: "30s" }), ["INVALID_ARGUMENT", "name"]);
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
