/**
 * One caller's hostile input never fails another's, and text Postgres cannot store
 * is refused by name while the same characters inside JSON data round-trip.
 */
import assert from "node:assert/strict";
import { Kagzi, Retry, Worker, WorkflowFailedError } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { workerRpc } from "./_raw.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const enc = new TextEncoder();

Deno.test(`concurrent starts in one namespace all succeed while another namespace sends hostile ones (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const post = (body: string) =>
    fetch(`${server.url}/kagzi.v1.WorkflowService/StartWorkflow`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    }).then(async (res) => ({ status: res.status, body: await res.json() }));
  const hostile: [string, string][] = [
    [
      "input.metadata",
      JSON.stringify({ namespace: "evil", workflowType: "t", input: { metadata: { k: "a\0b" } } }),
    ],
    [
      "context.metadata",
      JSON.stringify({
        namespace: "evil",
        workflowType: "t",
        context: { metadata: { "\0": "v" } },
      }),
    ],
    [
      "retry_policy.non_retryable_errors[0]",
      JSON.stringify({
        namespace: "evil",
        workflowType: "t",
        retryPolicy: { nonRetryableErrors: ["Bad\0Error"] },
      }),
    ],
    ["workflow_id", JSON.stringify({ namespace: "evil", workflowType: "t", workflowId: "a\0" })],
  ];
  const innocent = Array.from({ length: 87 }, (_, i) =>
    JSON.stringify({
      namespace: "innocent",
      workflowType: "t",
      workflowId: `good-${i}`,
      input: { data: btoa(JSON.stringify({ i })), metadata: { encoding: "json" } },
    }));
  // Interleave them so they arrive together and would share group-commit batches.
  const bodies = [...innocent];
  hostile.forEach(([, body], i) => bodies.splice(i * 20 + 3, 0, body));
  const results = await Promise.all(bodies.map(post));
  const good = results.filter((r) => r.body.runId);
  assert.equal(good.length, 87, JSON.stringify(results.filter((r) => !r.body.runId)));
  for (const [field, body] of hostile) {
    const r = results[bodies.indexOf(body)];
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.code, "invalid_argument");
    assert.equal(r.body.details[0].debug.subject, field);
    assert.match(r.body.message, new RegExp(field.replace(/[[\].]/g, "\\$&")));
  }
  const client = await Kagzi.connect(server.url);
  assert.equal((await client.list().namespace("innocent").withTotal()).totalCount, 87);
  assert.equal((await client.list().namespace("evil").withTotal()).totalCount, 0);
});

Deno.test(`a Report answers each item on its own: one unstorable item fails only itself (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const rpc = workerRpc(server.url);
  const client = await Kagzi.connect(server.url);
  const { workerId } = await rpc.register({ workflowTypes: [{ workflowType: "r" }] });
  const runs = await Promise.all([0, 1, 2, 3].map((i) => client.start("r").input({ i })));
  const { tasks } = await rpc.pollTask({ workerId, maxTasks: 10 });
  assert.deepEqual(tasks.map((t) => t.runId).sort(), runs.map((r) => r.id).sort());
  const res = await rpc.report({
    workerId,
    items: tasks.map((t, i) => ({
      item: {
        case: "completeWorkflow" as const,
        value: {
          lease: { runId: t.runId, fence: t.fence },
          output: {
            data: enc.encode(JSON.stringify({ done: i })),
            metadata: (i === 2 ? { encoding: "json", "bad\0key": "x" } : {
              encoding: "json",
            }) as Record<string, string>,
          },
        },
      },
    })),
  });
  const bad = res.results[2].result;
  assert.equal(bad.case, "error");
  assert.equal(bad.value?.subject, "items[2].complete_workflow.output.metadata");
  assert.match(bad.value?.message ?? "", /NUL/);
  for (const i of [0, 1, 3]) assert.equal(res.results[i].result.case, "completeWorkflow");
  const statuses = await Promise.all(
    tasks.map(async (t) => (await client.get(t.runId)).status),
  );
  assert.deepEqual(statuses, ["COMPLETED", "COMPLETED", "RUNNING", "COMPLETED"]);
  // The stored outputs are the reported ones, each on its own run.
  for (const i of [0, 1, 3]) {
    assert.deepEqual((await client.get(tasks[i].runId)).output, { done: i });
  }
});

Deno.test(`NUL characters inside JSON inputs and step outputs round-trip; a thrown error with one is stored (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const worker = await Worker.builder(server.url).workflows({
    nul: async (ctx, input: { s: string }) => {
      const step = await ctx.step("echo").run(() => `${input.s}|\u0000|\ud83d\ude00`);
      return { input: input.s, step };
    },
    throws: async (ctx) => {
      await ctx.step("boom").retry(Retry.none()).run(() => {
        const e = new Error("bad \u0000 byte and a lone \ud800 surrogate");
        e.name = "Nul\u0000Error";
        throw e;
      });
    },
  }).build();
  const running = worker.run();
  try {
    const client = await Kagzi.connect(server.url);
    const run = await client.start("nul").input({ s: "a\u0000b" });
    assert.deepEqual(await run.result({ timeout: "30s" }), {
      input: "a\u0000b",
      step: "a\u0000b|\u0000|\ud83d\ude00",
    });
    assert.deepEqual((await client.get(run.id)).input, { s: "a\u0000b" });
    const failing = await client.start("throws");
    await assert.rejects(failing.result({ timeout: "30s" }), (e: WorkflowFailedError) => {
      assert.ok(e instanceof WorkflowFailedError, String(e));
      assert.match(e.message, /bad \uFFFD byte and a lone \uFFFD surrogate/);
      return true;
    });
  } finally {
    await worker.shutdown();
    await running;
  }
});

Deno.test(`an error whose causes nest more than 100 deep is refused by name, not a crash (${backend})`, async () => {
  await using server = await startTestServer(backend);
  for (const levels of [150, 50_000]) {
    let error: Record<string, unknown> = { message: "root" };
    for (let i = 0; i < levels; i++) error = { message: `level ${i}`, cause: error };
    for (const path of ["FailStep", "FailWorkflow"]) {
      const res = await fetch(`${server.url}/kagzi.v1.WorkerService/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ error }),
      });
      const body = await res.json();
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 300));
      assert.equal(body.code, "invalid_argument");
      assert.match(
        body.message,
        /^Cannot fail (step|workflow): "error\.cause\.cause.*" nests messages more than 100 deep$/,
      );
    }
  }
  // The server answers as before.
  assert.equal((await (await Kagzi.connect(server.url)).health()).healthy, true);
});
