import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  GetWorkflowRequestSchema,
  GetWorkflowResponseSchema,
  StartWorkflowRequestSchema,
  StartWorkflowResponseSchema,
  WorkflowStatus,
} from "@kagzi/proto";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { grpcUnary } from "./_grpc.ts";
import { startTestServer } from "./_server.ts";

/** POSTs JSON over cleartext HTTP/2 with prior knowledge (no upgrade), as `curl --http2-prior-knowledge`. */
function h2cPost(url: string, body: string): Promise<{ status: number; body: unknown }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const session = http2.connect(u.origin);
    session.once("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": u.pathname,
      "content-type": "application/json",
    });
    let status = 0;
    const chunks: Buffer[] = [];
    req.once("response", (h) => (status = Number(h[":status"])));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("error", reject);
    req.once("end", () => {
      session.close();
      try {
        resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
      } catch (err) {
        reject(err);
      }
    });
    req.end(body);
  });
}

for (const backend of await backends()) {
  Deno.test(`native gRPC, Connect over HTTP/1.1 and gRPC-Web start and get the same workflow (${backend})`, async () => {
    await using server = await startTestServer(backend);
    const grpcClient = new grpc.Client(
      `127.0.0.1:${server.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    try {
      const started = await grpcUnary(
        grpcClient,
        "/kagzi.v1.WorkflowService/StartWorkflow",
        StartWorkflowRequestSchema,
        StartWorkflowResponseSchema,
        create(StartWorkflowRequestSchema, {
          workflowType: "cross-protocol",
          workflowId: "xp-1",
          input: {
            data: new TextEncoder().encode('{"via":"grpc"}'),
            metadata: { encoding: "json" },
          },
        }),
      );
      assert.equal(started.alreadyExists, false);

      const connect = await Kagzi.connect(server.url); // Connect, binary, HTTP/1.1 fetch
      const grpcWeb = await Kagzi.connect(server.url, { protocol: "grpc-web" });
      const grpcSdk = await Kagzi.connect(server.grpcUrl, { protocol: "grpc" });
      for (const client of [connect, grpcWeb, grpcSdk]) {
        const again = await client.start("cross-protocol").id("xp-1");
        assert.equal(again.id, started.runId);
        assert.equal(again.alreadyExists, true);
        const w = await client.get(started.runId);
        assert.deepEqual(w.input, { via: "grpc" });
        assert.equal(w.type, "cross-protocol");
      }
      const viaGrpc = await grpcUnary(
        grpcClient,
        "/kagzi.v1.WorkflowService/GetWorkflow",
        GetWorkflowRequestSchema,
        GetWorkflowResponseSchema,
        create(GetWorkflowRequestSchema, { runId: started.runId }),
      );
      assert.equal(viaGrpc.workflow?.status, WorkflowStatus.PENDING);

      // A gRPC error carries the status code and message in trailers.
      await assert.rejects(
        grpcUnary(
          grpcClient,
          "/kagzi.v1.WorkflowService/StartWorkflow",
          StartWorkflowRequestSchema,
          StartWorkflowResponseSchema,
          create(StartWorkflowRequestSchema, { workflowType: "" }),
        ),
        (e: grpc.ServiceError) =>
          e.code === grpc.status.INVALID_ARGUMENT && /workflow_type/.test(e.details),
      );

      // h2c (HTTP/2 prior knowledge) on the Connect port.
      const h2c = await h2cPost(`${server.url}/kagzi.v1.AdminService/HealthCheck`, "{}");
      assert.equal(h2c.status, 200, JSON.stringify(h2c.body));
      assert.equal((h2c.body as { healthy?: boolean }).healthy, true);
    } finally {
      grpcClient.close();
    }
  });
}

Deno.test("CORS: a browser preflight is allowed and responses expose the Connect headers", async () => {
  await using server = await startTestServer("embedded", {
    args: ["--cors-origins", "https://app.example"],
  });
  const path = `${server.url}/kagzi.v1.AdminService/HealthCheck`;
  const preflight = await fetch(path, {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version",
    },
  });
  await preflight.body?.cancel();
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.match(
    preflight.headers.get("access-control-allow-headers") ?? "",
    /connect-protocol-version/i,
  );
  const res = await fetch(path, {
    method: "POST",
    headers: { origin: "https://app.example", "content-type": "application/json" },
    body: "{}",
  });
  assert.equal((await res.json()).healthy, true);
  assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
  const other = await fetch(path, {
    method: "POST",
    headers: { origin: "https://evil.example", "content-type": "application/json" },
    body: "{}",
  });
  await other.body?.cancel();
  assert.equal(
    other.headers.get("access-control-allow-origin"),
    null,
    "other origins get no CORS grant",
  );
});

Deno.test("deno serve server/serve.ts serves the fetch handler", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kagzi_serve_" });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "-A",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      new URL("../server/serve.ts", import.meta.url).pathname,
    ],
    env: { KAGZI_DATA_DIR: dataDir, KAGZI_LOG_LEVEL: "warn" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let client: Kagzi | undefined;
    for (let i = 0; i < 120 && !client; i++) {
      client = await Kagzi.connect(`http://127.0.0.1:${port}`, { connectTimeout: "1s" }).catch(() =>
        undefined
      );
      if (!client) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(client, "deno serve answered");
    const run = await client.start("served");
    assert.equal((await client.get(run.id)).status, "PENDING");
    const ui = await fetch(`http://127.0.0.1:${port}/ui/`);
    assert.match(await ui.text(), /<script type="module" src="\/ui\/assets\/app\.\w+\.js">/);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dataDir, { recursive: true });
  }
});
