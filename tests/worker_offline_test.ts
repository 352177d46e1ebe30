/**
 * A worker that deregistered stays OFFLINE even when a heartbeat it sent before deregistering
 * reaches the server after the deregistration (the race behind a flaky unserved check: the
 * departed worker came back ONLINE until the silence sweep, and its types counted as served);
 * a worker only marked OFFLINE for its silence still comes back ONLINE with its next heartbeat.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { workerRpc } from "./_raw.ts";
import { waitFor } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`a deregistered worker stays OFFLINE after a late heartbeat; a silent one comes back (${backend})`, async (t) => {
  // Silent for six intervals of 100 ms, a worker is marked OFFLINE.
  await using server = await startTestServer(backend, {
    args: ["--heartbeat-interval-ms", "100"],
  });
  const rpc = workerRpc(server.url);
  const client = await Kagzi.connect(server.url);
  const register = async (type: string) =>
    (await rpc.register({ workflowTypes: [{ workflowType: type }], hostname: "t" })).workerId;

  await t.step(
    "deregistered, then its late heartbeat: OFFLINE, and its type unserved",
    async () => {
      const workerId = await register("leaver");
      assert.equal((await client.getWorker(workerId)).status, "ONLINE");
      await rpc.deregister({ workerId });
      // The heartbeat that was in flight when the worker deregistered.
      await rpc.heartbeat({ workerId, activeCount: 0 });
      assert.equal((await client.getWorker(workerId)).status, "OFFLINE");
      const run = await client.start("leaver");
      assert.match(run.warning ?? "", /No online worker serves workflow "leaver"/);
      assert.notEqual((await client.get(run.id)).unserved, undefined);
    },
  );

  await t.step("marked OFFLINE for its silence, then a heartbeat: ONLINE again", async () => {
    const workerId = await register("sleeper");
    await waitFor(
      "the silent worker to be marked OFFLINE",
      async () => (await client.getWorker(workerId)).status === "OFFLINE",
    );
    await rpc.heartbeat({ workerId, activeCount: 0 });
    assert.equal((await client.getWorker(workerId)).status, "ONLINE");
    const run = await client.start("sleeper");
    assert.equal(run.warning, undefined);
  });
});
