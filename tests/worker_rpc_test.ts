import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AdminService, ErrorCode, StepKind, StepStatus } from "@kagzi/proto";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { json, workerRpc } from "./_raw.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`WorkerService over the raw wire: BeginStep, memoized outputs and bad worker input (${backend})`, async (t) => {
  await using server = await startTestServer(backend);
  const rpc = workerRpc(server.url);
  const client = await Kagzi.connect(server.url);
  const { workerId } = await rpc.register({
    workflowTypes: [{ workflowType: "raw" }],
    hostname: "t",
  });
  const run = await client.start("raw").input({ n: 1 });
  const { tasks } = await rpc.pollTask({ workerId, maxTasks: 5 });
  assert.equal(tasks.length, 1);
  const [task] = tasks;
  assert.equal(task.runId, run.id);
  assert.equal(task.fence, 1n);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(task.input!.data)), { n: 1 });
  const lease = { runId: task.runId, fence: task.fence };
  const step = { kind: StepKind.FUNCTION, name: "s", occurrence: 1 };

  await t.step(
    "BeginStep says to execute a new step and returns the stored output of a done one",
    async () => {
      assert.equal((await rpc.beginStep({ workerId, lease, step })).shouldExecute, true);
      const done = await rpc.completeStep({ workerId, lease, step, output: json({ v: 1 }) });
      assert.equal(done.record?.attempt, 1);
      const again = await rpc.beginStep({ workerId, lease, step });
      assert.equal(again.shouldExecute, false);
      assert.equal(again.record?.status, StepStatus.COMPLETED);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(again.record!.output!.data)), { v: 1 });
    },
  );

  await t.step("a second CompleteStep for the same step keeps the first output", async () => {
    const second = await rpc.completeStep({ workerId, lease, step, output: json({ v: 2 }) });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(second.record!.output!.data)), { v: 1 });
    const attempts = await client.listSteps(run.id);
    assert.equal(attempts.filter((a) => a.status === "COMPLETED").length, 1);
  });

  await t.step("worker RPCs name the bad field", async () => {
    const cases: [string, () => Promise<unknown>, string][] = [
      ["no lease", () => rpc.completeStep({ workerId, step, output: json(1) }), "lease"],
      [
        "zero fence",
        () => rpc.completeStep({ workerId, lease: { runId: run.id, fence: 0n }, step }),
        "lease.fence",
      ],
      [
        "bad run id",
        () => rpc.completeStep({ workerId, lease: { runId: "x", fence: 1n }, step }),
        "lease.run_id",
      ],
      [
        "occurrence 0",
        () => rpc.completeStep({ workerId, lease, step: { ...step, occurrence: 0 } }),
        "step.occurrence",
      ],
      [
        "empty step name",
        () => rpc.completeStep({ workerId, lease, step: { ...step, name: "" } }),
        "step.name",
      ],
      ["no types", () => rpc.register({ workflowTypes: [] }), "workflow_types"],
      ["bad worker id", () => rpc.pollTask({ workerId: "nope", maxTasks: 1 }), "worker_id"],
      ["no resume time", () => rpc.sleep({ workerId, lease }), "resume_at"],
      ["no error", () => rpc.failWorkflow({ workerId, lease }), "error"],
    ];
    for (const [name, call, field] of cases) {
      await assert.rejects(call(), (e: ConnectError) => {
        assert.equal(e.code, Code.InvalidArgument, name);
        assert.ok(e.rawMessage.includes(`"${field}"`), `${name}: ${e.rawMessage}`);
        return true;
      });
    }
    await assert.rejects(
      rpc.pollTask({ workerId: crypto.randomUUID(), maxTasks: 1 }),
      (e: ConnectError) => e.code === Code.NotFound && /register again/.test(e.rawMessage),
    );
  });

  await t.step(
    "workers, steps and schedules page with tokens, without duplicates or gaps",
    async () => {
      for (let i = 0; i < 4; i++) {
        await rpc.register({
          workflowTypes: [{ workflowType: "paged" }],
        });
      }
      const workerIds: string[] = [];
      let token = "";
      do {
        const page = await client.listWorkers({ type: "paged", pageSize: 3, pageToken: token });
        workerIds.push(...page.workers.map((w) => w.id));
        token = page.nextPageToken;
      } while (token);
      assert.equal(workerIds.length, 4);
      assert.equal(new Set(workerIds).size, 4);

      const admin = createClient(AdminService, createConnectTransport({ baseUrl: server.url }));
      const stepNames: string[] = [];
      token = "";
      do {
        const page = await admin.listSteps({
          runId: run.id,
          page: { pageSize: 1, pageToken: token },
        });
        stepNames.push(...page.attempts.map((a) => a.step!.name));
        token = page.page?.nextPageToken ?? "";
      } while (token);
      assert.deepEqual(stepNames, ["s"]);

      for (const id of ["a", "b", "c", "d", "é/ü"]) {
        await client.schedule(id).workflow("paged").cron("0 0 1 1 *");
      }
      const scheduleIds: string[] = [];
      token = "";
      do {
        const page = await client.listSchedules({ pageSize: 2, pageToken: token });
        scheduleIds.push(...page.schedules.map((x) => x.id));
        token = page.nextPageToken;
      } while (token);
      assert.deepEqual(scheduleIds, ["a", "b", "c", "d", "é/ü"]);
      await assert.rejects(
        client.listSchedules({ pageToken: "nope!" }),
        (e: Error) => /page\.page_token/.test(e.message),
      );
    },
  );

  await t.step(
    "Report answers each item like its single call, in order, and names bad items",
    async () => {
      const other = await client.start("raw").input({ n: 2 });
      const claimed = (await rpc.pollTask({ workerId, maxTasks: 5 })).tasks;
      assert.deepEqual(claimed.map((c) => c.runId), [other.id]);
      const otherLease = { runId: other.id, fence: claimed[0].fence };
      const stale = { runId: other.id, fence: claimed[0].fence + 7n };
      const steps = (n: number) => ({ kind: StepKind.FUNCTION, name: "r", occurrence: n });
      const res = await rpc.report({
        workerId,
        items: [
          {
            item: {
              case: "completeStep",
              value: { lease: otherLease, step: steps(1), output: json(1) },
            },
          },
          {
            item: {
              case: "completeStep",
              value: { lease: stale, step: steps(2), output: json(2) },
            },
          },
          {
            item: {
              case: "completeStep",
              value: { lease: otherLease, step: { ...steps(3), name: "" } },
            },
          },
          { item: { case: "completeStep", value: { lease, step: steps(1), output: json(3) } } },
          {
            item: {
              case: "completeStep",
              value: { lease: otherLease, step: steps(1), output: json(9) },
            },
          },
          { item: { case: undefined } },
        ],
      });
      const [ok, lost, bad, first, again, empty] = res.results.map((r) => r.result);
      assert.equal(ok.case, "completeStep");
      assert.equal(lost.case === "error" && lost.value.code, ErrorCode.PRECONDITION_FAILED);
      assert.equal(bad.case === "error" && bad.value.subject, "items[2].complete_step.step.name");
      assert.equal(first.case, "completeStep");
      // One of two outputs for the same step in one report is stored; both answers name it.
      assert.equal(again.case, "completeStep");
      const stored = (r: typeof ok) =>
        r.case === "completeStep" &&
        JSON.parse(new TextDecoder().decode(r.value.record!.output!.data));
      assert.equal(stored(ok), stored(again));
      assert.equal(empty.case === "error" && empty.value.subject, "items[5]");
      const attempts = await client.listSteps(other.id);
      assert.deepEqual(attempts.map((a) => [a.name, a.status]), [["r", "COMPLETED"]]);

      await assert.rejects(
        rpc.report({ workerId, items: Array.from({ length: 1001 }, () => ({})) }),
        (e: ConnectError) => e.code === Code.InvalidArgument && /"items"/.test(e.rawMessage),
      );
      const mismatched = await rpc.report({
        workerId,
        items: [{
          item: {
            case: "completeWorkflow",
            value: { namespace: "elsewhere", lease: otherLease, output: json(0) },
          },
        }],
      });
      const [m] = mismatched.results.map((r) => r.result);
      assert.equal(m.case === "error" && m.value.subject, "items[0].complete_workflow.namespace");
      assert.equal((await client.get(other.id)).status, "RUNNING", "nothing else was written");
      // Two completions of one run in one report: the first wins, the second is refused
      // (and neither breaks the batch).
      const twice = await rpc.report({
        workerId,
        items: [7, 8].map((n) => ({
          item: {
            case: "completeWorkflow" as const,
            value: { lease: otherLease, output: json(n) },
          },
        })),
      });
      const [won, refused] = twice.results.map((r) => r.result);
      assert.equal(won.case, "completeWorkflow");
      assert.equal(refused.case === "error" && refused.value.code, ErrorCode.PRECONDITION_FAILED);
      assert.equal(await other.result(), 7);
    },
  );

  await t.step(
    "CompleteWorkflow ends the run with its output; the lease is then gone",
    async () => {
      await rpc.completeWorkflow({ workerId, lease, output: json("done") });
      assert.equal(await run.result(), "done");
      await assert.rejects(
        rpc.completeWorkflow({ workerId, lease, output: json("again") }),
        (e: ConnectError) => e.code === Code.FailedPrecondition,
      );
      const res = await rpc.deregister({ workerId });
      assert.equal(res.released, 0);
    },
  );
});
