/**
 * The SDK built for Node (`scripts/build_node.ts`) runs unchanged on Node and on Bun: a worker
 * process and a client process of `tests/runtimes/program.mjs` against a real server take a run
 * through two steps, a durable sleep and a signal to its result (the client over Connect and over
 * native gRPC); SIGTERM lets the worker's in-flight step finish and the process exit 0.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { spawnProcess } from "./_process.ts";
import { bunPath, nodePath, nodeProject, runtimeOrSkip } from "./_runtimes.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

const runtimes: [name: string, get: () => Promise<string>][] = [
  ["node", nodePath],
  ["bun", bunPath],
];

for (const [name, get] of runtimes) {
  Deno.test(`the SDK runs a worker and a client on ${name} (${backend})`, async (t) => {
    const bin = await runtimeOrSkip(name, get);
    if (!bin) return;
    const began = Date.now();
    await using project = await nodeProject(["tests/runtimes/program.mjs"]);
    const built = Date.now();
    await using server = await startTestServer(backend);
    const serverUp = Date.now();
    await using worker = await spawnProcess(
      bin,
      ["program.mjs", "worker", server.url],
      { cwd: project.dir },
      "worker ready",
      `${name} worker`,
    );
    assert.match(worker.output(), new RegExp(`on ${name} \\d`));
    const client = await Kagzi.connect(server.url);
    const workerId = worker.output().match(/worker ready (\S+)/)![1];
    const registered = await client.getWorker(workerId);
    assert.deepEqual([registered.hostname, registered.pid], [Deno.hostname(), worker.pid]);

    /** Runs the client program over `protocol` to the end; returns what it printed. */
    const trip = async (protocol: string, url: string) => {
      await using caller = await spawnProcess(
        bin,
        ["program.mjs", "client", url, protocol],
        { cwd: project.dir },
        "result ",
        `${name} client`,
      );
      const status = await caller.status;
      assert.ok(status.success, `the ${name} client failed:\n${caller.output()}`);
      const line = caller.output().split("\n").find((l) => l.startsWith("result "))!;
      return JSON.parse(line.slice("result ".length));
    };

    for (const [protocol, url] of [["connect", server.url], ["grpc", server.grpcUrl]]) {
      await t.step(
        `start, two steps, a durable sleep, a signal, the result (${protocol})`,
        async () => {
          const got = await trip(protocol, url);
          assert.match(got.client, new RegExp(`^${name} \\d`));
          assert.equal(got.protocol, protocol);
          assert.equal(got.status, "COMPLETED");
          assert.equal(got.output.first.pid, worker.pid, "the step ran in the worker process");
          assert.match(got.output.first.runtime, new RegExp(`^${name} \\d`));
          assert.equal(got.output.second, `hello, from ${got.output.first.runtime}`);
          const steps = await client.listSteps(got.id);
          assert.deepEqual(
            steps.map((s) => [s.kind, s.name, s.status]),
            [
              ["function", "first", "COMPLETED"],
              ["sleep", "nap", "COMPLETED"],
              ["signal", "go", "COMPLETED"],
              ["function", "second", "COMPLETED"],
            ],
          );
        },
      );
    }

    await t.step("SIGTERM: the in-flight step finishes, the run completes, exit 0", async () => {
      const run = await client.start("runtime-slow").input({ ms: 1_500 });
      await waitFor("the step to start", () => worker.output().includes(`step started ${run.id}`));
      worker.kill("SIGTERM");
      const status = await worker.status;
      assert.equal(status.code, 0, `the ${name} worker exited with ${JSON.stringify(status)}`);
      assert.match(worker.output(), new RegExp(`step finished ${run.id}`));
      assert.match(worker.output(), /worker stopped \{"completed":3\}/);
      const w = await client.get(run.id);
      assert.equal(w.status, "COMPLETED");
      assert.equal(w.attempts, 1, "the run was never released to another worker");
      assert.equal((w.output as { pid: number }).pid, worker.pid);
    });
    console.log(
      `${name}: SDK build ${built - began} ms, server start ${serverUp - built} ms, ` +
        `worker start, trips and shutdown ${Date.now() - serverUp} ms`,
    );
  });
}
