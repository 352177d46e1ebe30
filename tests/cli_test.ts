/** The `kagzi` command as a real process against a real server (Postgres when available). */
import assert from "node:assert/strict";
import { NonRetryableError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { threeSteps } from "./_workflows.ts";
import { cliMain, expect, kagzi } from "./_cli.ts";

const apiKey = "kagzi-cli-test-key-0123456789";

const backend = (await backends()).at(-1)!; // Postgres when there is one: quicker to start
Deno.test(`kagzi CLI drives a real server: runs, schedules, workers, output formats, exit codes (${backend})`, async (t) => {
  await using server = await startTestServer(backend, {
    env: { KAGZI_API_KEYS: apiKey },
  });
  const env = { KAGZI_ADDRESS: server.url, KAGZI_API_KEY: apiKey };
  const cli = (...args: string[]) => kagzi(args, env);
  const worker = await Worker.builder(server.url).apiKey(apiKey).workflows({
    "three-steps": threeSteps,
    fails: () => Promise.reject(new NonRetryableError("card declined")),
    approval: (ctx) => ctx.waitForSignal("approve", { timeout: "1h" }),
    gated: async (ctx) => {
      await ctx.waitForSignal("go");
      return await ctx.step("after").run(() => "done");
    },
    naps: async (ctx) => {
      await ctx.sleep("nap", "1h");
      return "rested";
    },
  }).build();
  const running = worker.run();
  try {
    await t.step("usage errors exit 2 with the reason on stderr", async () => {
      const none = expect(await cli(), 2, "no command");
      assert.match(none.stderr, /Usage: kagzi <group> <command>/);
      assert.match(
        expect(await cli("run", "start"), 2, "no type").stderr,
        /takes <type>; got none/,
      );
      const bad = expect(await cli("run", "list", "--bogus"), 2, "unknown flag");
      assert.match(bad.stderr, /Unknown option '--bogus'/);
      assert.match(bad.stderr, /kagzi run list --help/);
      assert.match(
        expect(await cli("run", "list", "--status", "DONE"), 2, "bad status").stderr,
        /Invalid --status "DONE": use one of PENDING, RUNNING/,
      );
      assert.match(
        expect(await cli("run", "start", "x", "--input", "{bad"), 2, "bad JSON").stderr,
        /Invalid --input: not JSON/,
      );
      assert.match(
        expect(await cli("run", "list", "--output", "xml"), 2, "bad format").stderr,
        /Invalid --output "xml": use table, json, jsonl/,
      );
      assert.match(expect(await cli("runs"), 2, "unknown group").stderr, /unknown command "runs"/);
      // The server's refusal of a value is a usage error too, with its message and field.
      const server400 = expect(await cli("worker", "drain", "not-a-uuid"), 2, "bad worker id");
      assert.match(server400.stderr, /"worker_id" "not-a-uuid" is not a UUID/);
      assert.match(server400.stderr, /INVALID_ARGUMENT, field "worker_id"/);
    });

    await t.step("--help on every level", async () => {
      assert.match(expect(await cli("--help"), 0, "top").stdout, /Exit codes:/);
      assert.match(
        expect(await cli("schedule", "--help"), 0, "group").stdout,
        /trigger <scheduleId>/,
      );
      const start = expect(await cli("run", "start", "--help"), 0, "command").stdout;
      assert.match(start, /Usage: kagzi run start <type> \[flags\]/);
      assert.match(start, /--input JSON\|@file/);
    });

    await t.step("an unknown run is NOT_FOUND, exit 3", async () => {
      const id = crypto.randomUUID();
      const r = expect(await cli("run", "show", id), 3, "unknown run");
      assert.match(r.stderr, new RegExp(`Run "${id}" was not found in namespace "default"`));
      assert.match(r.stderr, /NOT_FOUND/);
    });

    let completedId = "";
    await t.step("run start --wait prints the ended run: exit 0 completed, 1 failed", async () => {
      const ok = expect(
        await cli(
          "run",
          "start",
          "three-steps",
          "--input",
          '{"stepMs":1}',
          "--id",
          "cli-1",
          "--wait",
        ),
        0,
        "completed",
      ).json();
      assert.equal(ok.status, "COMPLETED");
      assert.deepEqual(ok.output.out, [1, 2, 3]);
      completedId = ok.runId;
      const bad = expect(await cli("run", "start", "fails", "--wait"), 1, "failed");
      assert.equal(bad.json().status, "FAILED");
      assert.equal(bad.json().error.message, "card declined");
      assert.match(bad.stderr, /FAILED: card declined/);
      // Input from a file.
      const file = await Deno.makeTempFile({ suffix: ".json" });
      await Deno.writeTextFile(file, '{"stepMs": 2}');
      const fromFile = expect(
        await cli("run", "start", "three-steps", "--input", `@${file}`, "--wait"),
        0,
        "input file",
      ).json();
      await Deno.remove(file);
      assert.equal(fromFile.status, "COMPLETED");
    });

    await t.step("run result: the output and exit 0, or exit 1 for a failed run", async () => {
      const r = expect(await cli("run", "result", completedId), 0, "result");
      assert.deepEqual(r.json().out, [1, 2, 3]);
      const failed = (await cli("run", "list", "--type", "fails")).json()[0];
      const f = expect(await cli("run", "result", failed.runId), 1, "failed result");
      assert.equal(f.stdout, "");
      assert.match(f.stderr, /FAILED: card declined/);
    });

    await t.step("run list filters, limits, and prints table, JSON and JSON lines", async () => {
      const one = expect(
        await cli("run", "list", "--type", "three-steps", "--limit", "1"),
        0,
        "list",
      )
        .json();
      assert.equal(one.length, 1);
      assert.equal(one[0].type, "three-steps");
      const lines = expect(await cli("run", "list", "-o", "jsonl"), 0, "jsonl").stdout.trim()
        .split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      const table = expect(await cli("run", "list", "--output", "table"), 0, "table").stdout;
      assert.match(table.split("\n")[0], /^RUN ID\s+TYPE\s+STATUS\s+ATTEMPTS\s+CREATED/);
      assert.match(table, new RegExp(`${completedId}\\s+three-steps\\s+COMPLETED`));
    });

    await t.step("run show: steps, waits; cancel; result of a cancelled run exits 1", async () => {
      const { runId } = expect(await cli("run", "start", "naps"), 0, "start").json();
      await waitFor(
        "the run to sleep",
        async () => (await cli("run", "show", runId)).json().status === "SLEEPING",
      );
      const shown = expect(await cli("run", "show", runId), 0, "show").json();
      assert.equal(shown.steps[0].kind, "sleep");
      assert.equal(shown.steps[0].name, "nap");
      assert.equal(shown.waits[0].kind, "sleep");
      assert.ok(new Date(shown.waits[0].until).getTime() > Date.now() + 3_000_000);
      const table = expect(await cli("run", "show", runId, "-o", "table"), 0, "show table").stdout;
      assert.match(table, /Status:\s+SLEEPING/);
      assert.match(table, /nap#1\s+sleep\s+1\s+SLEEPING/);
      const cancelled = expect(await cli("run", "cancel", runId, "--reason", "cli"), 0, "cancel");
      assert.deepEqual(cancelled.json().map((r: { status: string }) => r.status), ["CANCELLED"]);
      const r = expect(await cli("run", "result", runId), 1, "cancelled result");
      assert.match(r.stderr, /CANCELLED: Cancelled: cli/);
      // Cancelling an ended run is refused by the server (exit 3), the others still go through.
      const mixed = await cli("run", "cancel", completedId, runId);
      assert.equal(mixed.code, 3);
      assert.match(mixed.stderr, /already COMPLETED/);
      assert.equal(mixed.json().length, 1);
    });

    await t.step("run show --follow prints events until the run ends", async () => {
      const { runId } = expect(await cli("run", "start", "gated"), 0, "start").json();
      const follow = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", cliMain, "run", "show", runId, "--follow", "-o", "jsonl"],
        env: { NO_COLOR: "1", ...env },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = follow.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      // The first view is out; the run goes on only now.
      expect(await cli("run", "signal", runId, "go"), 0, "signal");
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      const status = await follow.status;
      const stderr = await new Response(follow.stderr).text();
      assert.equal(status.code, 0, `${text}\n${stderr}`);
      const events = text.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(events[0].event, "run");
      assert.notEqual(events[0].status, "COMPLETED");
      const last = events.at(-1);
      assert.deepEqual([last.event, last.status, last.output], ["status", "COMPLETED", "done"]);
      const done = events.filter((e) => e.event === "step" && e.status === "COMPLETED");
      assert.ok(done.some((e) => e.kind === "function" && e.name === "after"), text);
    });

    await t.step("schedule create, list, show, pause, resume, trigger, delete", async () => {
      const missing = expect(
        await cli("schedule", "create", "s1", "--workflow", "x"),
        2,
        "no cron",
      );
      assert.match(missing.stderr, /--cron is required/);
      const badCron = expect(
        await cli("schedule", "create", "s1", "--workflow", "three-steps", "--cron", "nope"),
        2,
        "bad cron",
      );
      assert.match(badCron.stderr, /field "cron"/);
      const created = expect(
        await cli(
          "schedule",
          "create",
          "s1",
          "--workflow",
          "three-steps",
          "--cron",
          "0 0 1 1 *",
          "--input",
          '{"stepMs":1}',
        ),
        0,
        "create",
      ).json();
      assert.equal(created.enabled, true);
      assert.ok(created.nextFireAt);
      assert.deepEqual(
        expect(await cli("schedule", "list"), 0, "list").json().map((s: { id: string }) => s.id),
        ["s1"],
      );
      assert.equal(expect(await cli("schedule", "pause", "s1"), 0, "pause").json().enabled, false);
      assert.equal(expect(await cli("schedule", "show", "s1"), 0, "show").json().enabled, false);
      assert.equal(expect(await cli("schedule", "resume", "s1"), 0, "resume").json().enabled, true);
      const fired = expect(await cli("schedule", "trigger", "s1"), 0, "trigger").json();
      assert.match(fired.workflowId, /^s1@manual-/);
      assert.deepEqual(
        expect(await cli("run", "result", fired.runId), 0, "triggered run").json().out,
        [1, 2, 3],
      );
      expect(await cli("schedule", "delete", "s1"), 0, "delete");
      assert.match(
        expect(await cli("schedule", "show", "s1"), 3, "deleted").stderr,
        /NOT_FOUND/,
      );
    });

    await t.step("server health and info", async () => {
      const h = expect(await cli("server", "health"), 0, "health").json();
      assert.equal(h.healthy, true);
      assert.equal(h.databaseOk, true);
      const i = expect(await cli("server", "info", "-o", "table"), 0, "info").stdout;
      assert.match(i, /API version:\s+v1/);
    });

    await t.step(
      "the API key comes from --api-key or KAGZI_API_KEY; without one, exit 3",
      async () => {
        const none = await kagzi(["server", "health"], { KAGZI_ADDRESS: server.url });
        assert.equal(none.code, 3);
        assert.match(none.stderr, /refused the call.*UNAUTHORIZED/);
        const flag = await kagzi(
          ["server", "health", "--api-key", apiKey, "--address", server.url],
          {},
        );
        assert.equal(flag.code, 0, flag.stderr);
      },
    );

    await t.step("run signal delivers once per key; run retry starts a new run", async () => {
      const { runId } = expect(await cli("run", "start", "approval"), 0, "start").json();
      const sent = expect(
        await cli(
          "run",
          "signal",
          runId,
          "approve",
          "--payload",
          '{"by":"ana"}',
          "--idempotency-key",
          "k1",
        ),
        0,
        "signal",
      ).json();
      assert.equal(sent.alreadyExists, false);
      const again = await cli("run", "signal", runId, "approve", "--idempotency-key", "k1");
      assert.equal(expect(again, 0, "same key").json().alreadyExists, true);
      assert.deepEqual(expect(await cli("run", "result", runId), 0, "result").json(), {
        by: "ana",
      });
      const shown = expect(await cli("run", "show", runId), 0, "show").json();
      assert.equal(shown.signals.length, 1);
      assert.ok(shown.signals[0].consumedAt);
      const late = expect(await cli("run", "signal", runId, "approve"), 3, "finished run");
      assert.match(late.stderr, /PRECONDITION_FAILED/);
      assert.match(
        expect(await cli("run", "signal", runId), 2, "no name").stderr,
        /takes <run> <name>/,
      );

      const failed = (await cli("run", "list", "--type", "fails")).json()[0];
      const retried = expect(await cli("run", "retry", failed.runId, "--wait"), 1, "retry --wait");
      assert.equal(retried.json().retriedFromRunId, failed.runId);
      assert.equal(retried.json().status, "FAILED");
      assert.equal(retried.json().workflowId, failed.workflowId);
      const open = expect(await cli("run", "start", "naps"), 0, "open run").json();
      assert.match(
        expect(await cli("run", "retry", open.runId), 3, "retry of an open run").stderr,
        /PRECONDITION_FAILED/,
      );
      expect(await cli("run", "cancel", open.runId), 0, "cancel");
    });

    await t.step("worker list and drain", async () => {
      const listed = expect(await cli("worker", "list"), 0, "list").json();
      assert.equal(listed.length, 1);
      assert.equal(listed[0].id, worker.id);
      assert.equal(listed[0].health, "HEALTHY");
      const drained = expect(await cli("worker", "drain", worker.id), 0, "drain").json();
      assert.equal(drained[0].status, "DRAINING");
      // The worker hears it on its next heartbeat and shuts down.
      await running;
      const after = expect(await cli("worker", "list", "--status", "OFFLINE"), 0, "offline").json();
      assert.equal(after[0]?.id, worker.id);
    });
  } finally {
    await worker.shutdown();
    await running;
  }
});
