/**
 * A Connect client (the default, and the only protocol of browsers) rides out a restart of its
 * server: reads, a signal with an idempotency key and a cancel made while the server is down
 * (kill -9)
 * wait for it to come back on its port, within the client's retryTimeout, and succeed.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`a Connect client's reads and keyed signals wait out a server restart (${backend})`, async () => {
  await using first = await startTestServer(backend);
  const client = await Kagzi.connect(first.url);
  const worker = await Worker.builder(first.url).logger(false).workflows({
    "two-signals": async (ctx: Context) => [
      await ctx.waitForSignal<string>("s"),
      await ctx.waitForSignal<string>("s"),
    ],
  }).build();
  const running = worker.run();
  try {
    const run = await client.start("two-signals");
    const doomed = await client.start("two-signals");
    await waitFor(
      "the run to wait for its signal",
      async () => (await client.get(run.id)).waits.some((w) => w.kind === "signal"),
    );

    first.kill("SIGKILL");
    await first.status;
    // Asked while nothing listens on the port; the server comes back 1.5 s later.
    const asked = Date.now();
    const read = client.get(run.id);
    const signalled = client.signal(run.id, "s", "one", { idempotencyKey: "s-1" });
    const listed = client.listSignals(run.id);
    const cancelled = client.cancel(doomed.id);
    // Awaited below: a call that gave up while the server was away fails there.
    for (const p of [read, signalled, listed, cancelled]) p.catch(() => {});
    await new Promise((r) => setTimeout(r, 1_500));
    await first.restart({ port: first.port, grpcPort: first.grpcPort });

    assert.equal((await read).id, run.id);
    await signalled;
    await listed;
    assert.equal((await cancelled).status, "CANCELLED");
    assert.ok(Date.now() - asked >= 1_500, "the calls waited for the restart");
    await client.signal(run.id, "s", "two");
    assert.deepEqual(await run.result({ timeout: "60s" }), ["one", "two"]);
  } finally {
    await worker.shutdown();
    await running;
  }
});
