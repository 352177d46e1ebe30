/**
 * Flow control on the start paths other than a client's start, on both backends with a real
 * server: an emit or a hook whose data lacks a key a type's limits need is refused naming the
 * key and the type, and nothing is stored (an emit to several types: not the event, not the
 * other types' runs either); with the key present their runs obey the limits; a NUL character
 * in a key's value is INVALID_ARGUMENT naming the key on start, emit and hook, and the server
 * logs no error.
 */
import assert from "node:assert/strict";
import { type Context, defineWorkflow, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import {
  deliver,
  errorLines,
  hookSecret as secret,
  refused,
  runCount,
  Spans,
} from "./_flow_paths.ts";

for (const backend of await backends()) {
  Deno.test(`emits and hooks obey a type's flow control or are refused naming the key (${backend})`, async (t) => {
    await using server = await startTestServer(backend, { args: ["--tick-interval-ms", "200"] });
    const client = await Kagzi.connect(server.url);
    const spans = new Spans();
    const limited = defineWorkflow(
      "limited",
      async (ctx: Context, input: { c: string }) => {
        await ctx.step("enter").run(() => spans.enter(ctx.runId, input.c));
        await ctx.step("work").run(() => new Promise((r) => setTimeout(r, 300)));
        await ctx.step("exit").run(() => spans.exit(ctx.runId));
        return input.c;
      },
      {
        concurrency: [{ key: "input.c", limit: 1 }, { limit: 2 }],
        triggers: [{ event: "go" }],
      },
    );
    const tally = defineWorkflow(
      "tally",
      (_ctx: Context, input: unknown) => Promise.resolve(input),
      {
        triggers: [{ event: "go" }],
      },
    );
    const rated = defineWorkflow(
      "rated",
      (_ctx: Context, input: unknown) => Promise.resolve(input),
      {
        rateLimit: { key: "input.t", limit: 100, period: "1m" },
      },
    );
    const worker = await Worker.builder(server.url).workflows([limited, tally, rated])
      .maxConcurrent(20).logger(false).build();
    const running = worker.run();
    await client.createHook("limited-hook", { workflow: "limited", secret });
    await client.createHook("rated-hook", { workflow: "rated", secret });
    await client.createHook("go-hook", { event: "go", secret });
    try {
      await t.step(
        "an emit whose data lacks the key is refused whole; nothing is stored",
        async () => {
          await refused(
            client.emit("go", { n: 1 }, { id: "evt-no-key" }),
            /Cannot emit event "go" to workflow type "limited"/,
            /the concurrency key "input\.c" is missing from the input/,
            /nothing was stored/,
          );
          await refused(client.emit("go", { c: null }), /"input\.c" is null in the input/);
          assert.deepEqual((await client.listEvents({ name: "go" })).events, []);
          assert.equal(await runCount(client, "limited"), 0);
          assert.equal(await runCount(client, "tally"), 0, "the other subscriber was not started");
          // The id stays free: the same id with the key starts both types.
          const e = await client.emit("go", { c: "a" }, { id: "evt-no-key" });
          assert.equal(e.alreadyExists, false);
          assert.deepEqual(e.runs.map((r) => r.workflowType).sort(), ["limited", "tally"]);
          for (const r of e.runs) await client.handle(r.runId).result({ timeout: "30s" });
        },
      );

      await t.step(
        "a hook whose body lacks the key is 400 naming it; nothing is stored",
        async () => {
          const byRun = await deliver(server.url, "/v1/hooks/default/limited-hook", '{"n":1}');
          assert.equal(byRun.status, 400, JSON.stringify(byRun.json));
          assert.equal(byRun.json.code, "invalid_argument");
          assert.match(String(byRun.json.message), /workflow type "limited"/);
          assert.match(String(byRun.json.message), /concurrency key "input\.c" is missing/);
          const byEvent = await deliver(server.url, "/v1/hooks/default/go-hook", '{"n":2}');
          assert.equal(byEvent.status, 400, JSON.stringify(byEvent.json));
          assert.match(String(byEvent.json.message), /concurrency key "input\.c" is missing/);
          assert.equal((await client.listEvents({ name: "go" })).events.length, 1);
          assert.equal(await runCount(client, "limited"), 1);
          assert.equal(await runCount(client, "tally"), 1);
        },
      );

      await t.step("with the key, runs from emits and hooks obey the limits", async () => {
        const ids: string[] = [];
        for (const c of ["k1", "k1", "k1", "k2", "k2", "k3"]) {
          ids.push(...(await client.emit("go", { c })).runs.map((r) => r.runId));
        }
        for (const c of ["k1", "k2", "k3"]) {
          const r = await deliver(server.url, "/v1/hooks/default/limited-hook", `{"c":"${c}"}`);
          assert.equal(r.status, 202, JSON.stringify(r.json));
          ids.push(String(r.json.runId));
        }
        await Promise.all(ids.map((id) => client.handle(id).result({ timeout: "60s" })));
        assert.equal(spans.size, 1 + 6 + 3);
        const peaks = spans.peaks();
        assert.ok(peaks.perKey === 1 && peaks.total <= 2, JSON.stringify(peaks));
      });

      await t.step(
        "a NUL in a key's value is INVALID_ARGUMENT naming the key, on every path",
        async () => {
          const nul = "a\u0000b";
          const why = /has a NUL character/;
          await refused(client.start(limited).input({ c: nul }), /"input\.c"/, why);
          await refused(client.start(rated).input({ t: nul }), /rate limit key "input\.t"/, why);
          await refused(client.emit("go", { c: nul }), /"limited"/, /"input\.c"/, why);
          for (
            const [hook, key] of [["limited-hook", "c"], ["rated-hook", "t"], ["go-hook", "c"]]
          ) {
            const r = await deliver(
              server.url,
              `/v1/hooks/default/${hook}`,
              `{"${key}":"a\\u0000b"}`,
            );
            assert.equal(r.status, 400, `${hook}: ${JSON.stringify(r.json)}`);
            assert.match(String(r.json.message), new RegExp(`key "input\\.${key}" has a NUL`));
          }
          await refused(client.start(rated).input({ t: "a\ud800b" }), /"input\.t"/, /lone UTF-16/);
          assert.equal(await runCount(client, "rated"), 0);
          assert.deepEqual(errorLines(server.output()), [], "the server logged no error");
        },
      );
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
