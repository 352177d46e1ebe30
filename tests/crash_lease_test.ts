/**
 * Crash tests of leases: a zombie worker whose lease was taken over cannot touch the run, and
 * a worker cut off from the server longer than its retry window does not fail the run.
 */
import assert from "node:assert/strict";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { StepKind } from "@kagzi/proto";
import { Kagzi } from "@kagzi/sdk";
import postgres from "postgres";
import { startTestServer } from "./_server.ts";
import { workerRpc } from "./_raw.ts";
import { startWorker, tempJournal, waitFor } from "./_worker.ts";
import {
  assertNoRunAfterStored,
  backend,
  completedSteps,
  entriesOf,
  leaseMs,
  shortLeases,
} from "./_crash.ts";

Deno.test(
  `a zombie worker cannot complete, fail or sleep a run whose lease was taken over (${backend})`,
  async () => {
    await using server = await startTestServer(backend, { args: shortLeases });
    const client = await Kagzi.connect(server.url);
    const rpc = workerRpc(server.url);
    const namespace = "default";
    const json = (v: unknown) => ({
      data: new TextEncoder().encode(JSON.stringify(v)),
      metadata: { encoding: "json" },
    });
    const register = async () =>
      (await rpc.register({ namespace, workflowTypes: [{ workflowType: "zombie" }] })).workerId;
    const poll = async (workerId: string) => {
      const res = await rpc.pollTask({
        namespace,
        workerId,
        maxTasks: 1,
        timeout: { seconds: 10n },
      });
      assert.equal(res.tasks.length, 1, "the poll got the run");
      return res.tasks[0];
    };

    const z = await register();
    const run = await client.start("zombie").input({ n: 1 });
    const t1 = await poll(z);
    assert.equal(t1.runId, run.id);
    const f1 = t1.fence;
    // While Z holds the lease, its writes are accepted (so the requests below are well formed).
    await rpc.completeStep({
      namespace,
      workerId: z,
      lease: { runId: run.id, fence: f1 },
      step: { kind: StepKind.FUNCTION, name: "early", occurrence: 1 },
      output: json("from Z"),
    });

    // Z goes silent (no heartbeat); its lease expires and Y takes the run over.
    const y = await register();
    const t2 = await poll(y);
    assert.equal(t2.runId, run.id);
    const f2 = t2.fence;
    assert.ok(f2 > f1, `the fence grows with each claim: ${f1} then ${f2}`);
    assert.deepEqual(
      t2.steps.map((s) => s.step?.name),
      ["early"],
      "Y replays Z's step stored before the takeover",
    );

    const zombie = { namespace, workerId: z, lease: { runId: run.id, fence: f1 } };
    const later = timestampFromDate(new Date(Date.now() + 60_000));
    const refused = async (what: string, call: () => Promise<unknown>) => {
      await assert.rejects(call, (e: unknown) => {
        const err = ConnectError.from(e);
        assert.equal(err.code, Code.FailedPrecondition, `${what}: ${err.message}`);
        assert.match(err.message, /Lease lost/, what);
        return true;
      }, what);
    };
    await refused("complete step", () =>
      rpc.completeStep({
        ...zombie,
        step: { kind: StepKind.FUNCTION, name: "late", occurrence: 1 },
        output: json("zombie output"),
      }));
    await refused("fail step", () =>
      rpc.failStep({
        ...zombie,
        step: { kind: StepKind.FUNCTION, name: "late-fail", occurrence: 1 },
        error: { message: "zombie failure", name: "Error" },
      }));
    await refused("sleep", () =>
      rpc.sleep({
        ...zombie,
        sleeps: [{ step: { kind: StepKind.SLEEP, name: "nap", occurrence: 1 }, wakeUpAt: later }],
        resumeAt: later,
      }));
    await refused(
      "complete workflow",
      () => rpc.completeWorkflow({ ...zombie, output: json("zombie result") }),
    );
    await refused(
      "fail workflow",
      () => rpc.failWorkflow({ ...zombie, error: { message: "zombie failure", name: "Error" } }),
    );
    const beat = await rpc.heartbeat({ namespace, workerId: z, leases: [zombie.lease] });
    assert.deepEqual(beat.lostRunIds, [run.id], "Z's heartbeat learns its lease was lost");

    // Nothing changed: Y still holds the run, Z wrote no step.
    const w = await client.get(run.id);
    assert.equal(w.status, "RUNNING");
    assert.equal(w.workerId, y);
    assert.equal(w.output, undefined);
    assert.ok(w.attempts >= 2, `lease recovery counts an attempt: ${w.attempts}`);
    const steps = await client.listSteps(run.id);
    assert.deepEqual(steps.map((s) => [s.name, s.status, s.workerId]), [["early", "COMPLETED", z]]);
    if (backend === "postgres") {
      const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
      try {
        const [r] = await sql`
          select status, worker_id, fence::text, wake_up_at, error from kagzi_runs
          where run_id = ${run.id}`;
        assert.deepEqual(
          { ...r },
          { status: "RUNNING", worker_id: y, fence: String(f2), wake_up_at: null, error: null },
        );
        const [s] = await sql`select count(*)::int as n from kagzi_steps where run_id = ${run.id}`;
        assert.equal(s.n, 1);
        const [p] = await sql`
          select count(*)::int as n from kagzi_payloads where run_id = ${run.id} and kind = 'output'`;
        assert.equal(p.n, 0);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }

    // Y, the owner, can write: its lease is alive and its completion wins.
    const yBeat = await rpc.heartbeat({
      namespace,
      workerId: y,
      leases: [{ runId: run.id, fence: f2 }],
    });
    assert.deepEqual(yBeat.lostRunIds, []);
    const yLease = { namespace, workerId: y, lease: { runId: run.id, fence: f2 } };
    await rpc.completeStep({
      ...yLease,
      step: { kind: StepKind.FUNCTION, name: "late", occurrence: 1 },
      output: json("from Y"),
    });
    await rpc.completeWorkflow({ ...yLease, output: json({ by: "Y" }) });
    const done = await client.get(run.id);
    assert.equal(done.status, "COMPLETED");
    assert.deepEqual(done.output, { by: "Y" });
    assert.deepEqual(
      (await client.listSteps(run.id)).map((s) => [s.name, s.output, s.workerId]).sort(),
      [["early", "from Z", z], ["late", "from Y", y]],
    );
    // A zombie write after the end changes nothing either.
    await refused(
      "complete workflow after the end",
      () => rpc.completeWorkflow({ ...zombie, output: json("zombie result") }),
    );
    assert.deepEqual((await client.get(run.id)).output, { by: "Y" });
    await rpc.deregister({ namespace, workerId: z });
    await rpc.deregister({ namespace, workerId: y });
  },
);

/**
 * An HTTP proxy in front of a server that answers `503 unavailable` (as a load balancer does
 * while a replica restarts) to the RPCs `blocked(method)` names, and forwards the rest.
 */
function startProxy(
  target: string,
  blocked: (method: string) => boolean,
): { url: string; refused: string[] } & AsyncDisposable {
  const refused: string[] = [];
  const gone = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const method = url.pathname.split("/").pop() ?? "";
    if (blocked(method)) {
      refused.push(method);
      await req.body?.cancel();
      return Response.json({ code: "unavailable", message: "proxy: upstream restarting" }, {
        status: 503,
      });
    }
    const headers = new Headers(req.headers);
    for (const h of ["host", "accept-encoding", "content-length"]) headers.delete(h);
    try {
      const res = await fetch(new URL(url.pathname, target), {
        method: req.method,
        headers,
        body: req.body ? await req.arrayBuffer() : undefined,
        signal: gone.signal,
      });
      const body = await res.arrayBuffer();
      const out = new Headers(res.headers);
      for (const h of ["content-encoding", "content-length", "transfer-encoding"]) out.delete(h);
      return new Response(body, { status: res.status, headers: out });
    } catch {
      return Response.json({ code: "unavailable", message: "proxy: upstream unreachable" }, {
        status: 503,
      });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    refused,
    async [Symbol.asyncDispose]() {
      gone.abort();
      await server.shutdown();
    },
  };
}

Deno.test(
  `a worker that cannot deliver a step's output for longer than its retry window does not fail the run (${backend})`,
  async () => {
    // The worker reaches the server through a proxy that refuses CompleteStep (503) for a
    // while but lets heartbeats through, so the worker keeps its lease throughout. A step
    // output that cannot be delivered is the worker's problem, not the workflow's: the run
    // must still complete (the step may run again), never end FAILED with a transport error.
    await using server = await startTestServer(backend, { args: shortLeases });
    await using journal = await tempJournal();
    let blockUntil = 0;
    await using proxy = startProxy(
      server.url,
      (m) => m === "CompleteStep" && Date.now() < blockUntil,
    );
    const client = await Kagzi.connect(server.url);
    await using worker = await startWorker(proxy.url, {
      types: ["three-steps"],
      journal: journal.path,
    });
    const stepMs = 1_000;
    const run = await client.start("three-steps").input({ stepMs });
    await waitFor("step two to start", () => entriesOf(journal.path, run.id).length >= 2);
    // Refuse step two's CompleteStep from its end until well past the SDK's retry window.
    blockUntil = Date.now() + stepMs + leaseMs + 1_500;
    const output = await run.result({ timeout: "30s" }).catch(async (err) => {
      const steps = await client.listSteps(run.id).catch(() => []);
      throw new Error(
        `run ${run.id} did not complete: ${err}\n` +
          `refused: ${proxy.refused.join(", ")}\n` +
          `journal: ${JSON.stringify(entriesOf(journal.path, run.id))}\n` +
          `steps: ${JSON.stringify(steps.map((s) => [s.name, s.status, s.attempt]))}`,
      );
    });
    assert.deepEqual(output, { out: [1, 2, 3], runId: run.id });
    assert.ok(proxy.refused.length >= 2, `CompleteStep was refused ${proxy.refused.length} times`);
    const entries = entriesOf(journal.path, run.id);
    const count = (step: string) => entries.filter((e) => e.step === step).length;
    assert.equal(count("one"), 1);
    assert.ok(count("two") >= 1 && count("two") <= 2, `two ran ${count("two")} times`);
    assert.equal(count("three"), 1);
    assert.ok(entries.every((e) => e.pid === worker.pid));
    assertNoRunAfterStored(entries, completedSteps(await client.listSteps(run.id)));
  },
);
