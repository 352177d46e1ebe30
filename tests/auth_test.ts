import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { StartWorkflowRequestSchema, StartWorkflowResponseSchema } from "@kagzi/proto";
import { Kagzi, KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { grpcRaw, grpcUnary, grpcWebStatus } from "./_grpc.ts";
import { startTestServer } from "./_server.ts";

const key1 = "kagzi-test-key-one-0123456789";
const key2 = "kagzi-test-key-two-9876543210";

const unauthorized = (pattern: RegExp) => (e: KagziError) => {
  assert.ok(e instanceof KagziError, `expected a KagziError, got ${e}`);
  assert.equal(e.code, "UNAUTHORIZED");
  assert.match(e.message, pattern);
  return true;
};

/** Postgres when there is one (quicker to start), else embedded. */
const backend = (await backends()).at(-1)!;

Deno.test(`a server with API keys refuses calls without an accepted key on every protocol (${backend})`, async () => {
  await using server = await startTestServer(backend, {
    env: { KAGZI_API_KEYS: `${key1},${key2}` },
  });

  // The SDK: no key, a wrong key, then each accepted key over each protocol.
  await assert.rejects(Kagzi.connect(server.url), unauthorized(/missing "authorization"/));
  await assert.rejects(
    Kagzi.connect(server.url, { apiKey: "not-one-of-the-keys-000" }),
    unauthorized(/not accepted/),
  );
  await assert.rejects(
    Worker.builder(server.url).workflows({ greet: () => Promise.resolve() }).build(),
    unauthorized(/Register: missing "authorization"/),
  );
  const viaConnect = await Kagzi.connect(server.url, { apiKey: key1 });
  const viaGrpcWeb = await Kagzi.connect(server.url, { apiKey: key2, protocol: "grpc-web" });
  const viaGrpc = await Kagzi.connect(server.grpcUrl, { apiKey: key1, protocol: "grpc" });
  for (const client of [viaConnect, viaGrpcWeb, viaGrpc]) {
    assert.equal((await client.health()).healthy, true);
  }

  // A worker with a key runs what a client with the other key started.
  const worker = await Worker.builder(server.url).apiKey(key2).workflows({
    greet: async (ctx, name: string) =>
      await ctx.step("hello").run(() => Promise.resolve(`hello ${name}`)),
  }).build();
  const running = worker.run();
  try {
    const run = await viaGrpc.start("greet").input("auth");
    assert.equal(await run.result({ timeout: "20s" }), "hello auth");
  } finally {
    await worker.shutdown();
    await running;
  }

  // Raw Connect: a malformed header is refused with HTTP 401 and nothing is started.
  const raw = await fetch(`${server.url}/kagzi.v1.WorkflowService/StartWorkflow`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Basic ${key1}` },
    body: JSON.stringify({ workflowType: "greet", workflowId: "raw-basic" }),
  });
  assert.equal(raw.status, 401);
  const body = await raw.json();
  assert.equal(body.code, "unauthenticated");
  assert.match(body.message, /must be "Bearer <key>"/);
  const page = await viaConnect.list().type("greet");
  assert.deepEqual(page.workflows.map((w) => w.workflowId).includes("raw-basic"), false);

  // Native gRPC (@grpc/grpc-js): without metadata UNAUTHENTICATED (16), with it accepted.
  const native = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  try {
    const call = (metadata: grpc.Metadata) =>
      grpcUnary(
        native,
        "/kagzi.v1.WorkflowService/StartWorkflow",
        StartWorkflowRequestSchema,
        StartWorkflowResponseSchema,
        create(StartWorkflowRequestSchema, { workflowType: "native", workflowId: "n-1" }),
        metadata,
      );
    await assert.rejects(call(new grpc.Metadata()), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAUTHENTICATED);
      return true;
    });
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${key2}`);
    const started = await call(md);
    assert.equal((await viaConnect.get(started.runId)).workflowId, "n-1");
  } finally {
    native.close();
  }
});

Deno.test(`without an accepted key a request is refused before its body is read, on every protocol (${backend})`, async () => {
  await using server = await startTestServer(backend, {
    env: { KAGZI_API_KEYS: key1 },
  });
  const start = "/kagzi.v1.WorkflowService/StartWorkflow";
  const garbage = new Uint8Array([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
  const huge = new Uint8Array(9 * 1024 * 1024);
  const post = (contentType: string, body: BodyInit, auth?: string) =>
    fetch(server.url + start, {
      method: "POST",
      headers: { "content-type": contentType, ...(auth ? { authorization: auth } : {}) },
      body,
    });
  for (
    const [what, contentType, body] of [
      ["bad JSON", "application/json", '{"workflowType": nope'],
      ["garbage proto", "application/proto", garbage.subarray(5)],
      ["a 9 MiB body", "application/proto", huge],
    ] as const
  ) {
    for (const auth of [undefined, "Bearer not-one-of-the-keys-000"]) {
      const res = await post(contentType, body, auth);
      const json = await res.json();
      assert.equal(res.status, 401, `${what}: ${JSON.stringify(json)}`);
      assert.equal(json.code, "unauthenticated");
    }
  }
  // With the key the same bad JSON is told what is wrong with it.
  const keyed = await post("application/json", '{"workflowType": nope', `Bearer ${key1}`);
  assert.equal(keyed.status, 400);
  assert.equal((await keyed.json()).code, "invalid_argument");

  const web = await grpcWebStatus(await post("application/grpc-web+proto", garbage));
  assert.equal(web.grpcStatus, grpc.status.UNAUTHENTICATED);
  const native = await grpcRaw(server.grpcPort, start, garbage);
  assert.equal(native.grpcStatus, grpc.status.UNAUTHENTICATED);
  const nativeHuge = await grpcRaw(server.grpcPort, start, huge);
  assert.equal(nativeHuge.grpcStatus, grpc.status.UNAUTHENTICATED);
});
