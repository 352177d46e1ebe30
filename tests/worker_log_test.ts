/**
 * The worker's log, as a user sees it: a real worker process with the default logger (stderr,
 * `info`) against a real server that is killed and restarted. It registers, says when a step
 * fails and is retried, when it loses the server and reaches it again, and when it drains.
 */
import assert from "node:assert/strict";
import { Kagzi, type Logger, Retry, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { startWorker, tempJournal, waitFor } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const line = (level: string, text: string) =>
  new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${level} ${text}`, "m");

Deno.test(`the worker logs steps failed and retried, a lost and regained server, its drain (${backend})`, async () => {
  await using server = await startTestServer(backend, { args: ["--heartbeat-interval-ms", "300"] });
  await using journal = await tempJournal();
  await using worker = await startWorker(server.url, { types: ["flaky"], journal: journal.path });
  assert.match(worker.output(), line("INFO", `worker [0-9a-f-]{36} registered with ${server.url}`));

  const client = await Kagzi.connect(server.url);
  const run = await client.start("flaky").input({ failures: 1, attempts: 3, initialMs: 10 });
  assert.equal(await run.result({ timeout: "20s" }), 2);
  const failed = line(
    "WARN",
    `step "flaky" of run ${run.id} \\(flaky\\) failed \\(attempt 1\\): failure 1; retry at \\S+Z`,
  );
  assert.match(worker.output(), failed);
  // Structured: the same fields a log pipeline would index.
  const json = JSON.parse(worker.output().match(new RegExp(failed.source + " (.*)$", "m"))![1]);
  assert.deepEqual(
    { ...json, retryAt: undefined },
    {
      runId: run.id,
      type: "flaky",
      step: "flaky",
      occurrence: 1,
      attempt: 1,
      error: "failure 1",
      errorName: "Error",
      retryAt: undefined,
    },
  );

  server.kill("SIGKILL");
  await server.status;
  await waitFor(
    "the worker to say it lost the server",
    () => line("WARN", `lost the server at ${server.url}`).test(worker.output()),
  );
  await using again = await server.restart({ port: server.port, grpcPort: server.grpcPort });
  await waitFor(
    "the worker to say it reached the server again",
    () =>
      line("INFO", `reached the server at ${server.url} again after [\\d.]+ s`)
        .test(worker.output()),
  );
  assert.equal(
    worker.output().match(/lost the server/g)?.length,
    1,
    "one line per outage, not one per failed poll",
  );

  worker.kill("SIGTERM");
  assert.equal((await worker.status).code, 0);
  assert.match(worker.output(), line("INFO", "draining \\(SIGTERM\\): polling stopped"));
  assert.match(worker.output(), line("INFO", "stopped: deregistered; 0 unfinished run\\(s\\)"));
  assert.ok(again.url);
});

Deno.test(`.logger() takes a Logger, a level or false (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const seen: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const capture = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    void seen.push({ level, msg, fields });
  const logger: Logger = {
    debug: capture("debug"),
    info: capture("info"),
    warn: capture("warn"),
    error: capture("error"),
  };
  const worker = await Worker.builder(server.url).logger(logger).workflows({
    boom: (ctx) =>
      ctx.step("explode").retry(Retry.none()).run(() => {
        throw new Error("kaboom");
      }),
  }).build();
  const running = worker.run();
  try {
    const client = await Kagzi.connect(server.url);
    const run = await client.start("boom");
    await run.result({ timeout: "20s" }).catch(() => {});
    await waitFor("the run's failure to be logged", () => seen.some((e) => e.level === "error"));
    const step = seen.find((e) => e.level === "warn" && e.fields?.step === "explode")!;
    assert.match(step.msg, /step "explode" of run .* \(boom\) failed \(attempt 1\): kaboom/);
    const end = seen.find((e) => e.level === "error")!;
    assert.equal(end.fields?.runId, run.id);
    assert.match(end.msg, /failed: .*kaboom/);
  } finally {
    await worker.shutdown();
    await running;
  }
  assert.ok(seen.some((e) => e.level === "info" && /^draining/.test(e.msg)));
  assert.throws(() => Worker.builder(server.url).logger("loud" as never), /Invalid log level/);
  assert.throws(() => Worker.builder(server.url).logger({} as never), /needs a debug/);
});
