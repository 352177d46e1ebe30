import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { runExample } from "./_examples.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`examples/order runs the API.md program to completion (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const stdout = await runExample("order", server.url);
  assert.match(stdout, /^[0-9a-f-]{36} false$/m);
  assert.match(stdout, /emailed user123@example.com about ship-2/);
  assert.match(stdout, /result {"orderId":"tx-123-9999","status":"completed"}/);

  const client = await Kagzi.connect(server.url, { namespace: "production" });
  const again = await client.start("process-order").id("order-123");
  const [done] = (await client.list().status("COMPLETED")).workflows;
  assert.equal(again.alreadyExists, true, "a completed run keeps its idempotency key");
  assert.equal(again.id, done.id);
  const steps = await client.listSteps(done.id);
  assert.deepEqual(
    steps.map((s) => `${s.kind}:${s.name}:${s.status}`),
    [
      "function:fetch-user:COMPLETED",
      "function:charge-card:COMPLETED",
      "sleep:wait-confirmation:COMPLETED",
      "function:create-shipment:COMPLETED",
      "function:send-email:COMPLETED",
    ],
  );
  const slept = steps[2];
  assert.ok(slept.wakeUpAt!.getTime() - slept.startedAt!.getTime() >= 29_900);
});

Deno.test(`examples/approval: an approval signal, a timeout and a child charge (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const stdout = await runExample("approval", server.url, { APPROVAL_TIMEOUT: "1s" });
  assert.match(
    stdout,
    /approved: {"orderId":"A-1","status":"charged","receipt":"rcpt-42","approvedBy":"ana"}/,
  );
  assert.match(stdout, /ignored: {"orderId":"B-2","status":"rejected"}/);
  const client = await Kagzi.connect(server.url);
  const [a] = (await client.list().workflowId("A-1")).workflows;
  const children = (await client.list().parent(a.id)).workflows;
  assert.deepEqual(children.map((c) => `${c.type}:${c.status}`), ["charge-card:COMPLETED"]);
  assert.deepEqual((await client.listSignals(a.id)).map((s) => s.name), ["approve"]);
});

Deno.test(`examples/versioning: a run keeps the version it started on (${backend})`, async () => {
  await using server = await startTestServer(backend);
  const stdout = await runExample("versioning", server.url);
  assert.match(
    stdout,
    /o-1 {"version":"1","receipt":"card-o-1","by":"ana","tracking":"ship-o-1"}/,
  );
  assert.match(
    stdout,
    /o-2 {"version":"2","risk":"ok","receipt":"pay-o-2","by":"ana","tracking":"ship-o-2"}/,
  );
  assert.match(stdout, /open version 1 runs: 0 \(orderV1 can be removed\)/);
  const client = await Kagzi.connect(server.url);
  const [o1] = (await client.list().workflowId("o-1")).workflows;
  assert.equal(o1.version, "1");
  assert.deepEqual(
    (await client.listSteps(o1.id)).map((s) => `${s.kind}:${s.name}`),
    ["function:charge-card", "signal:approve", "function:ship"],
  );
});
