/**
 * Durable streams against real servers and worker processes, on both backends: a run writes
 * 100 values while an SDK reader (Connect server streaming), an SSE reader and the CLI follow
 * them live; the worker is killed (-9) mid-stream and the replay stores no value twice; readers
 * resume from an offset or a Last-Event-ID; latest() and streams(); bad input.
 */
import assert from "node:assert/strict";
import { Kagzi, Worker } from "@kagzi/sdk";
import { progress } from "./_workflows.ts";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, startWorker, waitFor } from "./_worker.ts";
import { cliFollow, collect, offsets, readSse, sseValues, within } from "./_streams.ts";

type Progress = { i: number; pct: number };

const expected = (from = 0) =>
  offsets(100, from).map((i) => ({ offset: i, value: { i, pct: i + 1 } }));

for (const backend of await backends()) {
  Deno.test(`100 stream values reach an SDK, an SSE and a CLI reader live, in order and once, across a kill -9 of the worker (${backend})`, async (t) => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    const client = await Kagzi.connect(server.url);
    const worker = await startWorker(server.url, { types: ["progress"] });
    await using _w = worker;
    const run = await client.start("progress").input({ n: 100, ms: 40 });
    const sdk = collect<Progress>(client.handle(run.id), "progress");
    const sse = readSse(await fetch(`${server.url}/v1/runs/${run.id}/streams/progress`));
    const cli = cliFollow(server.url, run.id, "progress");

    await waitFor("30 values read", () => sdk.got.length >= 30, 30_000);
    worker.kill("SIGKILL");
    await worker.status;
    assert.ok(sdk.got.length < 100, "the worker died mid-stream");
    await using _w2 = await startWorker(server.url, { types: ["progress"] });
    await within(Promise.all([sdk.done, sse.done, cli.done]), 60_000, "the readers");
    assert.equal(await run.result(), 100);

    await t.step("each reader got offsets 0..99 with their values, once, in order", () => {
      assert.deepEqual(sdk.got, expected());
      const s = sseValues<Progress>(sse.events);
      assert.deepEqual(s.got, expected());
      assert.equal(s.end, true, "the event stream ends with an end event");
      assert.deepEqual(cli.got, expected());
    });

    await t.step("latest() is the last value and streams() lists the closed stream", async () => {
      assert.deepEqual(await client.handle(run.id).latest("progress"), { i: 99, pct: 100 });
      assert.equal(await client.handle(run.id).latest("nothing-here"), undefined);
      const [info, ...more] = await client.handle(run.id).streams();
      assert.deepEqual(more, []);
      assert.equal(info.name, "progress");
      assert.equal(info.count, 100);
      assert.equal(info.closed, true);
    });

    await t.step("a reader resumes from an offset, SDK and CLI", async () => {
      const again = collect<Progress>(client.handle(run.id), "progress", 50);
      const cliAgain = cliFollow(server.url, run.workflowId, "progress", ["--from", "97"]);
      await within(Promise.all([again.done, cliAgain.done]), 30_000, "resumed readers");
      assert.deepEqual(again.got, expected(50));
      assert.deepEqual(cliAgain.got, expected(97));
    });

    await t.step("the same reads over native gRPC (HTTP/2) and gRPC-Web", async () => {
      const grpc = await Kagzi.connect(server.grpcUrl, { protocol: "grpc" });
      const web = await Kagzi.connect(server.url, { protocol: "grpc-web" });
      const a = collect<Progress>(grpc.handle(run.id), "progress");
      const b = collect<Progress>(web.handle(run.id), "progress", 10);
      await within(Promise.all([a.done, b.done]), 30_000, "gRPC readers");
      assert.deepEqual(a.got, expected());
      assert.deepEqual(b.got, expected(10));
      assert.deepEqual(await grpc.handle(run.id).latest("progress"), { i: 99, pct: 100 });
    });

    await t.step("SSE resumes after Last-Event-ID; a reconnect past the end gets 204", async () => {
      const url = `${server.url}/v1/runs/${run.id}/streams/progress`;
      const res = await fetch(url, { headers: { "last-event-id": "94" } });
      assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
      const r = readSse(res);
      await r.done;
      assert.deepEqual(sseValues(r.events), { got: expected(95), end: true });
      const over = await fetch(url, { headers: { "last-event-id": "99" } });
      assert.equal(over.status, 204);
      await over.body?.cancel();
      const from = readSse(await fetch(`${url}?from=98`));
      await from.done;
      assert.deepEqual(sseValues(from.events).got, expected(98));
    });
  });

  Deno.test(`a stream left open ends for its readers when the run ends; bad input is refused by name (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    await using _w = await startWorker(server.url, { types: ["progress"] });

    await t.step("an open stream ends when its run completes", async () => {
      const run = await client.start("progress").input({ n: 3, open: true });
      const r = collect(client.handle(run.id), "progress");
      await within(r.done, 30_000, "the reader");
      assert.deepEqual(r.got.map((e) => e.offset), [0, 1, 2]);
      assert.equal((await client.handle(run.id).streams())[0].closed, true);
    });

    await t.step("an oversize value is refused inside the run, naming the limit", async () => {
      const run = await client.start("progress").input({ n: 0, big: 4 * 1024 * 1024 + 1 });
      const out = await run.result() as { refused: string };
      assert.match(out.refused, /^INVALID_ARGUMENT: .*4194304/);
      assert.deepEqual(await client.handle(run.id).streams(), []);
    });

    const unknown = crypto.randomUUID();
    await t.step("an unknown run is NOT_FOUND for every reader", async () => {
      await assert.rejects(collect(client.handle(unknown), "progress").done, { code: "NOT_FOUND" });
      await assert.rejects(client.handle(unknown).latest("progress"), { code: "NOT_FOUND" });
      await assert.rejects(client.handle(unknown).streams(), { code: "NOT_FOUND" });
      const res = await fetch(`${server.url}/v1/runs/${unknown}/streams/progress`);
      assert.equal(res.status, 404);
      assert.equal((await res.json()).code, "not_found");
    });

    await t.step(
      "an empty name, a bad run id and a negative offset are INVALID_ARGUMENT",
      async () => {
        const run = await client.start("progress").input({ n: 1 });
        await run.result();
        await assert.rejects(
          collect(client.handle(run.id), "").done,
          (e: Error & { code: string }) => {
            assert.equal(e.code, "INVALID_ARGUMENT");
            assert.match(e.message, /"name" must not be empty/);
            return true;
          },
        );
        await assert.rejects(client.handle(run.id).latest(""), { code: "INVALID_ARGUMENT" });
        await assert.rejects(collect(client.handle(run.id), "progress", -1).done, {
          code: "INVALID_ARGUMENT",
        });
        const bad = await fetch(`${server.url}/v1/runs/not-a-uuid/streams/progress`);
        assert.equal(bad.status, 400);
        assert.match((await bad.json()).message, /"run_id" "not-a-uuid" is not a UUID/);
        const badId = await fetch(`${server.url}/v1/runs/${run.id}/streams/progress`, {
          headers: { "last-event-id": "x" },
        });
        assert.equal(badId.status, 400);
        await badId.body?.cancel();
        // A malformed percent-escape in the path, or a "from" that is no whole number: 400
        // naming the field, never a 500.
        for (
          const [path, field] of [
            [`/v1/runs/${run.id}/streams/%E0%A4%A`, /path's name "%E0%A4%A" holds a malformed/],
            ["/v1/runs/%E0%A4%A/streams/progress", /path's run_id "%E0%A4%A" holds a malformed/],
            [`/v1/runs/${run.id}/streams/progress?from=1.5`, /"from" "1.5" is not an offset/],
          ] as const
        ) {
          const res = await fetch(`${server.url}${path}`);
          assert.equal(res.status, 400, path);
          assert.match((await res.json()).message, field);
        }
        // The good stream is untouched by the refusals.
        assert.deepEqual(await client.handle(run.id).latest("progress"), { i: 0, pct: 100 });
      },
    );
  });
}

const pg = (await backends()).includes("postgres");

Deno.test({
  name: "a reader on replica B follows live a stream written through replica A (postgres)",
  ignore: !pg,
  async fn() {
    const fast = ["--tick-interval-ms", "200"];
    await using a = await startTestServer("postgres", { args: fast });
    await using b = await a.restart({ args: fast });
    // Each replica knows the other from its next tick on (it then notifies it).
    await new Promise((r) => setTimeout(r, 600));
    const onA = await Kagzi.connect(a.url);
    const onB = await Kagzi.connect(b.url);
    await using _w = await startWorker(a.url, { types: ["progress"] });
    const run = await onA.start("progress").input({ n: 100, ms: 10 });
    const sdk = collect<Progress>(onB.handle(run.id), "progress");
    const sse = readSse(await fetch(`${b.url}/v1/runs/${run.id}/streams/progress`));
    await within(Promise.all([sdk.done, sse.done]), 60_000, "the readers on B");
    assert.deepEqual(sdk.got, expected());
    assert.deepEqual(sseValues(sse.events), { got: expected(), end: true });
  },
});

Deno.test("API keys and namespaces apply to stream readers as to every RPC", async () => {
  const backend = (await backends()).at(-1)!;
  await using server = await startTestServer(backend, {
    args: ["--api-keys", "admin-key-0123456789=*;team-key-0123456789=team"],
  });
  const admin = await Kagzi.connect(server.url, { apiKey: "admin-key-0123456789" });
  const worker = await Worker.builder(server.url).apiKey("admin-key-0123456789")
    .workflow("progress", progress).build();
  const running = worker.run();
  const run = await admin.start("progress").input({ n: 2 });
  await run.result();
  await worker.shutdown();
  await running;
  const url = `${server.url}/v1/runs/${run.id}/streams/progress`;
  const none = await fetch(url);
  assert.equal(none.status, 401);
  await none.body?.cancel();
  const team = await fetch(url, { headers: { authorization: "Bearer team-key-0123456789" } });
  assert.equal(team.status, 403, "the team key does not cover namespace default");
  await team.body?.cancel();
  const ok = readSse(
    await fetch(url, { headers: { authorization: "Bearer admin-key-0123456789" } }),
  );
  await ok.done;
  assert.equal(sseValues(ok.events).got.length, 2);
  const teamClient = await Kagzi.connect(server.url, { apiKey: "team-key-0123456789" })
    .catch((e) => e);
  if (teamClient instanceof Kagzi) {
    await assert.rejects(collect(teamClient.handle(run.id), "progress").done, {
      code: "PERMISSION_DENIED",
    });
  }
  const r = collect(admin.handle(run.id), "progress");
  await r.done;
  assert.equal(r.got.length, 2);
});
