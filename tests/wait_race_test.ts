/**
 * A child that ends between its parent's claim and the parent's suspension: the parent's
 * execution read the child step as WAITING, so it suspends without a resume time — by then
 * nothing is waiting any more. The run must be due at once (not refused and left to its lease
 * for 30 s, the stall a 20-child fan-out used to hit now and then). Raw worker RPCs make the
 * interleaving exact.
 */
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import { StepKind, StepStatus } from "@kagzi/proto";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { json, workerRpc } from "./_raw.ts";

for (const backend of await backends()) {
  Deno.test(`a child ending between claim and suspension makes its parent due at once (${backend})`, async () => {
    await using server = await startTestServer(backend);
    const rpc = workerRpc(server.url);
    const client = await Kagzi.connect(server.url);
    const { workerId } = await rpc.register({
      workflowTypes: [{ workflowType: "parent" }, { workflowType: "kid" }],
    });
    const parent = await client.start("parent");
    const [task] = (await rpc.pollTask({ workerId, maxTasks: 1 })).tasks;
    assert.equal(task.runId, parent.id);
    const lease = { runId: parent.id, fence: task.fence };

    // The parent starts a child: its CHILD step is WAITING.
    const started = await rpc.startChild({
      workerId,
      lease,
      step: { kind: StepKind.CHILD, name: "k", occurrence: 1 },
      workflowType: "kid",
      input: json({}),
    });
    assert.equal(started.record?.status, StepStatus.WAITING);

    // The child runs and completes while the parent's execution still believes it waits.
    const [kid] = (await rpc.pollTask({ workerId, maxTasks: 1 })).tasks;
    assert.equal(kid.runId, started.record?.childRunId);
    await rpc.completeWorkflow({
      workerId,
      lease: { runId: kid.runId, fence: kid.fence },
      output: json(7),
    });

    // The parent suspends "until woken": it is due at once and comes back with the outcome.
    await rpc.sleep({ workerId, lease });
    const [again] =
      (await rpc.pollTask({ workerId, maxTasks: 1, timeout: { seconds: 5n, nanos: 0 } }))
        .tasks;
    assert.equal(
      again?.runId,
      parent.id,
      "the parent is claimed again without waiting for a lease",
    );
    assert.equal(again.fence, task.fence + 1n);
    const child = again.steps.find((s) => s.step?.kind === StepKind.CHILD);
    assert.equal(child?.status, StepStatus.COMPLETED);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(child!.output!.data)), 7);

    // A run that never waited for anything still needs a resume time.
    const plain = await client.start("kid");
    const [p] = (await rpc.pollTask({ workerId, maxTasks: 1 })).tasks;
    assert.equal(p.runId, plain.id);
    await assert.rejects(
      () => rpc.sleep({ workerId, lease: { runId: p.runId, fence: p.fence } }),
      (e) =>
        e instanceof ConnectError && e.code === Code.InvalidArgument &&
        /resume_at/.test(e.message),
    );
  });
}
