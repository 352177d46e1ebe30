/**
 * In-process mode: `createServer()` with a worker and a client in the same process, calling
 * the server's handler with no socket. Still durable, keyed and fenced like over the network.
 */
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { toJson } from "@bufbuild/protobuf";
import { WorkflowSchema, WorkflowService } from "@kagzi/proto";
import { type Context, Kagzi, KagziError, Worker, WorkflowFailedError } from "@kagzi/sdk";
import { createServer, loadConfig } from "../server/mod.ts";
import { backends, freshDatabase } from "./_db.ts";
import { metricSum } from "./_metrics.ts";
import { waitFor } from "./_worker.ts";
import { migratedDataDir } from "./_pgdata.ts";

async function order(ctx: Context, input: { n: number }) {
  const a = await ctx.step("reserve").run(() => ({ qty: input.n }));
  await ctx.sleep("settle", "50ms");
  const b = await ctx.step("charge").run(() => ({ paid: a.qty * 2 }));
  return { ...a, ...b };
}

// Outputs over the server's 4 MiB payload limit: refused for good, so they fail (not loop).
async function bigStep(ctx: Context) {
  return await ctx.step("huge").run(() => "x".repeat(5 * 1024 * 1024));
}
function bigOutput(_ctx: Context) {
  return Promise.resolve("y".repeat(5 * 1024 * 1024));
}

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`a worker and a client in the server's own process run workflows (${backend})`, async (t) => {
  await using db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await migratedDataDir("kagzi_inproc_");
  const server = await createServer(loadConfig({
    ...(db ? { DATABASE_URL: db.url } : { KAGZI_DATA_DIR: dataDir }),
    KAGZI_LOG_LEVEL: "warn",
    KAGZI_API_KEYS: "in-process-secret-key",
  }));
  const worker = await Worker.builder(server).apiKey("in-process-secret-key").workflows({
    order,
    bigStep,
    bigOutput,
  })
    .build();
  const running = worker.run();
  try {
    const client = await Kagzi.connect(server, { apiKey: "in-process-secret-key" });

    await t.step("a run with steps and a durable sleep completes", async () => {
      const run = await client.start<{ qty: number; paid: number }>("order").input({ n: 3 });
      assert.deepEqual(await run.result(), { qty: 3, paid: 6 });
      const steps = await client.listSteps(run.id);
      assert.deepEqual(
        steps.filter((s) => s.status === "COMPLETED" && s.kind === "function").map((s) => s.name),
        ["reserve", "charge"],
      );
    });

    await t.step("an output over the payload limit fails its step or run at once", async () => {
      for (
        const [type, what] of [["bigStep", /output of step "huge" was refused/], [
          "bigOutput",
          // Named as its own call names it, though it travels in a Report.
          /workflow's output was refused: Cannot complete workflow: "output\.data"/,
        ]] as const
      ) {
        const run = await client.start(type);
        await assert.rejects(
          () => run.result({ timeout: "20s" }),
          (e) =>
            e instanceof WorkflowFailedError && what.test(e.message) &&
            /the limit is 4194304/.test(e.message),
        );
        // Refused once and failed, not re-claimed after each lease.
        const w = await client.get(run.id);
        assert.equal(w.status, "FAILED");
        assert.equal(w.attempts, 1);
      }
    });

    await t.step("the server's checks apply: no key, no call", async () => {
      await assert.rejects(
        () => Kagzi.connect(server),
        (e) => e instanceof KagziError && e.code === "UNAUTHORIZED",
      );
    });

    await t.step("a result woken by the completion equals the run as stored", async () => {
      // Raw GetWorkflow calls through the same in-process handler: the waiting one is answered
      // from the completion itself (no read), the later one from the database.
      const rpc = createClient(
        WorkflowService,
        createConnectTransport({
          baseUrl: "http://in-process.kagzi",
          useBinaryFormat: true,
          fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
            server.fetch(new Request(input, init))) as typeof fetch,
          interceptors: [(next) =>
          (req) => {
            req.header.set("authorization", "Bearer in-process-secret-key");
            return next(req);
          }],
        }),
      );
      const run = await client.start("order").input({ n: 5 });
      const waited = await rpc.getWorkflow({
        runId: run.id,
        waitForTerminal: { seconds: 20n, nanos: 0 },
      });
      const read = await rpc.getWorkflow({ runId: run.id });
      assert.equal(waited.workflow?.finishedAt !== undefined, true);
      assert.deepEqual(
        toJson(WorkflowSchema, waited.workflow!),
        toJson(WorkflowSchema, read.workflow!),
      );
    });

    await t.step("Connect calls go in memory, past fetch, under the same key check", async () => {
      let fetched = 0;
      const counted = { ...server, fetch: (req: Request) => (fetched++, server.fetch(req)) };
      const viaMemory = await Kagzi.connect(counted, { apiKey: "in-process-secret-key" });
      const run = await viaMemory.start<{ qty: number; paid: number }>("order").input({ n: 2 });
      assert.deepEqual(await run.result(), { qty: 2, paid: 4 });
      assert.equal(fetched, 0);
      await assert.rejects(Kagzi.connect(counted), /requires an API key/);
      assert.equal(fetched, 0);
      const grpcWeb = await Kagzi.connect(counted, {
        apiKey: "in-process-secret-key",
        protocol: "grpc-web",
      });
      assert.equal((await grpcWeb.get(run.id)).status, "COMPLETED");
      assert.ok(fetched > 0);
    });

    await t.step("unary calls carry messages past the bytes, under the same checks", async () => {
      const symbols = {
        unary: Symbol.for("kagzi.inProcessUnary"),
        bytes: Symbol.for("kagzi.inProcessCall"),
      };
      const counts = { unary: 0, bytes: 0 };
      // deno-lint-ignore no-explicit-any
      const of = server as any;
      const counted = {
        ...server,
        // deno-lint-ignore no-explicit-any
        [symbols.unary]: (...a: any[]) => (counts.unary++, of[symbols.unary](...a)),
        // deno-lint-ignore no-explicit-any
        [symbols.bytes]: (...a: any[]) => (counts.bytes++, of[symbols.bytes](...a)),
      };
      const key = { apiKey: "in-process-secret-key" };
      const direct = await Kagzi.connect(counted, key);
      const bytes = await Kagzi.connect(server, { ...key, protocol: "grpc-web" });
      // The server's metrics, read through its own handler.
      const metric = (name: string, method: string) =>
        metricSum(
          "http://in-process.kagzi",
          name,
          { method },
          { authorization: "Bearer in-process-secret-key" },
          (url, init) => server.fetch(new Request(url, init)),
        );
      const calls = (method: string) => metric("kagzi_rpc_duration_seconds_count", method);
      const inFlight = (method: string) => metric("kagzi_rpcs_in_flight", method);
      const startsBefore = await calls("StartWorkflow");
      const run = await direct.start<{ qty: number; paid: number }>("order").input({ n: 4 });
      assert.deepEqual(await run.result(), { qty: 4, paid: 8 });
      assert.ok(counts.unary >= 2, `${counts.unary} calls as messages`);
      assert.equal(counts.bytes, 0, "no unary call went as bytes");
      assert.equal(await calls("StartWorkflow") - startsBefore, 1, "the interceptors saw it");
      // The same refusals, field names and messages as over bytes.
      // Of a type no worker serves: its status (in the duplicate's message) stays PENDING while
      // both clients ask (a served one could be claimed between their calls).
      await direct.start("nobody-serves-this").id("in-process-taken");
      const past = new Date(Date.now() - 60_000);
      for (
        const make of [
          (c: Kagzi) => c.start("order").id("nul\u0000id"),
          (c: Kagzi) => c.start("order").deadline(past),
          (c: Kagzi) => c.start("nobody-serves-this").id("in-process-taken").onDuplicate("fail"),
          (c: Kagzi) => c.handle("not-a-run-id").get(),
        ]
      ) {
        const [a, b] = await Promise.allSettled([make(direct), make(bytes)]);
        assert.ok(a.status === "rejected" && b.status === "rejected");
        const [x, y] = [KagziError.from(a.reason), KagziError.from(b.reason)];
        assert.deepEqual([x.code, x.subject, x.message], [y.code, y.subject, y.message]);
      }
      // A wait given up by the caller ends on the server too (the signal reaches the handler).
      const idle = await direct.start("nobody-serves-this");
      const abort = new AbortController();
      const waiting = idle.result({ signal: abort.signal });
      await waitFor("the wait to reach the server", async () => await inFlight("WaitRuns") > 0);
      abort.abort(new Error("given up"));
      await assert.rejects(waiting, /given up/);
      await waitFor("the server to end the wait", async () => await inFlight("WaitRuns") === 0);
    });
  } finally {
    await worker.shutdown();
    await running;
    await server.close();
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

/** Real executions of each step of `durable`, in this process. */
const executed: Record<string, number> = {};
async function durable(ctx: Context) {
  const a = await ctx.step("before").run(() => {
    executed.before = (executed.before ?? 0) + 1;
    return 1;
  });
  const go = await ctx.waitForSignal<number>("go");
  return await ctx.step("after").run(() => {
    executed.after = (executed.after ?? 0) + 1;
    return a + go;
  });
}

Deno.test(`an in-process run survives closing the server and creating it again mid-run (${backend})`, async () => {
  await using db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await migratedDataDir("kagzi_inproc_");
  const config = () =>
    loadConfig({
      ...(db ? { DATABASE_URL: db.url } : { KAGZI_DATA_DIR: dataDir }),
      KAGZI_LOG_LEVEL: "warn",
    });
  try {
    // First life: the run completes "before" and waits for a signal; then everything closes.
    let server = await createServer(config());
    let worker = await Worker.builder(server).workflows({ durable }).build();
    let running = worker.run();
    const runId = (await (await Kagzi.connect(server)).start("durable")).id;
    const client1 = await Kagzi.connect(server);
    await waitFor(
      `run ${runId} to wait for "go"`,
      async () =>
        (await client1.get(runId)).waits.some((x) => x.kind === "signal" && x.name === "go"),
    );
    await worker.shutdown();
    await running;
    await server.close();

    // Second life on the same database: the signal wakes the stored run where it stopped.
    server = await createServer(config());
    worker = await Worker.builder(server).workflows({ durable }).build();
    running = worker.run();
    try {
      const client = await Kagzi.connect(server);
      assert.equal((await client.get(runId)).status, "SLEEPING");
      await client.signal(runId, "go", 41);
      await waitFor(
        "the run to end",
        async () => (await client.get(runId)).finishedAt !== undefined,
      );
      const done = await client.get(runId);
      assert.equal(done.status, "COMPLETED");
      assert.equal(done.output, 42);
      assert.deepEqual(executed, { before: 1, after: 1 }, "no step ran twice");
    } finally {
      await worker.shutdown();
      await running;
      await server.close();
    }
  } finally {
    if (dataDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
