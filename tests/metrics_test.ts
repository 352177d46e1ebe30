/** `GET /metrics`: counters, histograms and gauges after real workflows, key protection, off switch. */
import assert from "node:assert/strict";
import { Kagzi, KagziError, NonRetryableError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { threeSteps } from "./_workflows.ts";
import { waitFor } from "./_worker.ts";

const apiKey = "kagzi-metrics-test-key-0123456789";
const scopedKey = "kagzi-metrics-scoped-0123456789";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (samples only; comments skipped). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels` (0 when none). */
function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

async function scrape(url: string, key = apiKey): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return { text, samples: parse(text) };
}

const all = await backends();
const backend = all.includes("postgres") ? "postgres" : all[0];

Deno.test(`/metrics counts starts, ends, claims and step attempts, and gauges the backlog (${backend})`, async () => {
  await using server = await startTestServer(backend, {
    env: { KAGZI_API_KEYS: `${apiKey};${scopedKey}=default` },
  });
  const client = await Kagzi.connect(server.url, { apiKey });
  const worker = await Worker.builder(server.url).apiKey(apiKey).workflows({
    ok: threeSteps,
    bad: (ctx) => ctx.step("charge").run(() => Promise.reject(new NonRetryableError("declined"))),
  }).build();
  const running = worker.run();
  const runIds: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const run = await client.start("ok").input({});
      runIds.push(run.id);
      await run.result({ timeout: "30s" });
    }
    const bad = await client.start("bad");
    runIds.push(bad.id);
    await assert.rejects(bad.result({ timeout: "30s" }), /declined/);
    // Two runs nobody serves wait in the queue; one in another namespace.
    for (let i = 0; i < 2; i++) runIds.push((await client.start("orphan")).id);
    runIds.push((await client.start("orphan").namespace("other")).id);
    await assert.rejects(
      client.get(crypto.randomUUID()),
      (e: KagziError) => e.code === "NOT_FOUND",
    );

    const { text, samples } = await scrape(server.url);
    const d = { namespace: "default" };
    assert.equal(value(samples, "kagzi_runs_started_total", { ...d, workflow_type: "ok" }), 3);
    assert.equal(value(samples, "kagzi_runs_started_total", { ...d, workflow_type: "bad" }), 1);
    assert.equal(value(samples, "kagzi_runs_started_total", { ...d, workflow_type: "orphan" }), 2);
    assert.equal(
      value(samples, "kagzi_runs_started_total", { namespace: "other", workflow_type: "orphan" }),
      1,
    );
    const ok = { ...d, workflow_type: "ok" };
    assert.equal(value(samples, "kagzi_runs_finished_total", { ...ok, status: "completed" }), 3);
    assert.equal(
      value(samples, "kagzi_runs_finished_total", { ...d, workflow_type: "bad", status: "failed" }),
      1,
    );
    assert.equal(
      value(samples, "kagzi_run_duration_seconds_count", { ...ok, status: "completed" }),
      3,
    );
    assert.ok(value(samples, "kagzi_run_duration_seconds_sum", { ...ok, status: "completed" }) > 0);
    assert.equal(
      value(samples, "kagzi_run_duration_seconds_bucket", {
        ...ok,
        status: "completed",
        le: "+Inf",
      }),
      3,
    );
    assert.equal(value(samples, "kagzi_schedule_to_start_seconds_count", ok), 3);
    assert.equal(
      value(samples, "kagzi_schedule_to_start_seconds_count", { ...d, workflow_type: "orphan" }),
      0,
    );
    assert.equal(value(samples, "kagzi_step_attempts_total", { ...ok, status: "completed" }), 9);
    assert.equal(
      value(samples, "kagzi_step_attempts_total", { ...d, workflow_type: "bad", status: "failed" }),
      1,
    );
    assert.equal(value(samples, "kagzi_queue_backlog", { ...d, workflow_type: "orphan" }), 2);
    assert.equal(
      value(samples, "kagzi_queue_backlog", { namespace: "other", workflow_type: "orphan" }),
      1,
    );
    assert.equal(value(samples, "kagzi_queue_backlog", ok), 0);
    assert.ok(
      value(samples, "kagzi_queue_oldest_age_seconds", { ...d, workflow_type: "orphan" }) > 0,
    );
    assert.equal(value(samples, "kagzi_workers", { ...d, health: "healthy" }), 1);
    assert.ok(
      value(samples, "kagzi_rpc_duration_seconds_count", { method: "StartWorkflow", code: "ok" }) >=
        7,
    );
    assert.equal(
      value(samples, "kagzi_rpc_duration_seconds_count", {
        method: "GetWorkflow",
        code: "not_found",
      }),
      1,
    );
    for (const id of runIds) assert.ok(!text.includes(id), `run id ${id} appears in the metrics`);

    // Counters move at once; the gauges read from the database follow once their cached value
    // (reused for up to 5 s) expires.
    await client.cancel(runIds[4]);
    const again = (await scrape(server.url)).samples;
    const orphan = { ...d, workflow_type: "orphan" };
    assert.equal(value(again, "kagzi_runs_finished_total", { ...orphan, status: "cancelled" }), 1);
    await waitFor(
      "the backlog gauge to count the cancelled run out",
      async () => value((await scrape(server.url)).samples, "kagzi_queue_backlog", orphan) === 1,
    );
  } finally {
    await worker.shutdown();
    await running;
  }

  // With API keys on, a scrape needs one.
  const none = await fetch(`${server.url}/metrics`);
  assert.equal(none.status, 401);
  assert.match(await none.text(), /requires an API key/);
  const wrong = await fetch(`${server.url}/metrics`, {
    headers: { authorization: "Bearer not-the-key-000000000" },
  });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  // A key scoped to some namespaces may not read metrics that name every namespace.
  const scoped = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${scopedKey}` },
  });
  assert.equal(scoped.status, 403);
  assert.match(await scoped.text(), /key for all namespaces/);
});

Deno.test(`--no-metrics turns /metrics off (${backend})`, async () => {
  await using server = await startTestServer(backend, {
    args: ["--no-metrics"],
  });
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
});
