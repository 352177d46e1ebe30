/** The raw WorkerService client and payloads of tests that drive the worker protocol by hand. */
import assert from "node:assert/strict";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { WorkerService } from "@kagzi/proto";
import type { Kagzi } from "@kagzi/sdk";

/** A WorkerService client over Connect (binary) to the server at `url`. */
export function workerRpc(url: string): Client<typeof WorkerService> {
  return createClient(
    WorkerService,
    createConnectTransport({ baseUrl: url, useBinaryFormat: true }),
  );
}

/** A JSON payload as the SDK encodes it. */
export const json = (v: unknown): { data: Uint8Array; metadata: Record<string, string> } => ({
  data: new TextEncoder().encode(JSON.stringify(v)),
  metadata: { encoding: "json" },
});

/** A step output of the raw protocol (a `CompleteStep`'s, or one carried in `steps`). */
export const stepOutput = (name: string, v: unknown, occurrence = 1) => ({
  step: { name, occurrence },
  output: json(v),
});

/** Carried step lists (`steps`) the server refuses, each with what its refusal says. */
export const badStepLists: [unknown[], RegExp][] = [
  [[stepOutput("x", 1), stepOutput("", 2)], /"steps\[1\]\.step\.name" must not be empty/],
  [[stepOutput("x", 1), stepOutput("x", 2)], /"steps\[1\]\.step" names step "x" #1 twice/],
  [[{ output: json(1) }], /"steps\[0\]\.step" is required/],
  [Array.from({ length: 101 }, (_, i) => stepOutput(`s${i}`, i)), /"steps"/],
];

/** A raw worker of `type`: registered, it claims the run of each start, one at a time. */
export async function rawWorker(rpc: Client<typeof WorkerService>, client: Kagzi, type: string) {
  const registered = await rpc.register({ workflowTypes: [{ workflowType: type }] });
  const { workerId } = registered;
  const claim = async () => {
    const run = await client.start(type);
    const [task] = (await rpc.pollTask({ workerId, maxTasks: 1 })).tasks;
    assert.equal(task.runId, run.id);
    return { run, lease: { runId: task.runId, fence: task.fence } };
  };
  return { registered, workerId, claim };
}

/** A run claimed by a {@linkcode rawWorker}, and its lease. */
export type Claimed = Awaited<ReturnType<Awaited<ReturnType<typeof rawWorker>>["claim"]>>;

/**
 * Checks a call that carries step outputs (`send`, with a lease and `steps`) is refused as for a
 * lost lease, storing nothing of its own: with a stale fence; when an output of the step was
 * stored before (the first kept, the run still held); and for a run paused while its step ran
 * (the output is stored, the run stays PAUSED). `held` is a claimed run with nothing stored; it
 * is completed, and the paused run cancelled, at the end.
 */
export async function refusedCarries(o: {
  rpc: Client<typeof WorkerService>;
  client: Kagzi;
  workerId: string;
  claim: () => Promise<Claimed>;
  held: Claimed;
  stored: (runId: string) => Promise<string[]>;
  send: (lease: Claimed["lease"], steps: unknown[]) => Promise<unknown>;
}): Promise<void> {
  const { rpc, client, workerId, held } = o;
  const status = async (id: string) => (await client.handle(id).get()).status;
  // Refused as for a lost lease.
  const lost = (lease: Claimed["lease"], steps: unknown[]) =>
    assert.rejects(
      o.send(lease, steps),
      (e) =>
        e instanceof ConnectError && e.code === Code.FailedPrecondition &&
        /lease/i.test(e.rawMessage),
    );
  await lost({ ...held.lease, fence: held.lease.fence + 1n }, [stepOutput("y", 1)]);
  assert.deepEqual(await o.stored(held.run.id), []);
  await rpc.completeStep({ workerId, lease: held.lease, ...stepOutput("y", 1) });
  await lost(held.lease, [stepOutput("y", 9)]);
  assert.equal(await status(held.run.id), "RUNNING");
  assert.deepEqual(await o.stored(held.run.id), ["y:COMPLETED:1"]);
  await rpc.completeWorkflow({ workerId, lease: held.lease, output: json(0) });

  const paused = await o.claim();
  await client.pause(paused.run.id);
  await lost(paused.lease, [stepOutput("z", 1)]);
  assert.equal(await status(paused.run.id), "PAUSED");
  assert.deepEqual(await o.stored(paused.run.id), ["z:COMPLETED:1"]);
  await client.cancel(paused.run.id);
}
