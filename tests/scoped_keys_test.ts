/** Namespace-scoped API keys on every protocol: a key reaches only the namespaces it covers. */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  ListWorkersRequestSchema,
  ListWorkersResponseSchema,
  StartWorkflowRequestSchema,
  StartWorkflowResponseSchema,
} from "@kagzi/proto";
import { Kagzi, KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { grpcUnary } from "./_grpc.ts";
import { startTestServer } from "./_server.ts";

const ordersKey = "kagzi-test-orders-key-0123456789";
const adminKey = "kagzi-test-admin-key-0123456789";
const plainKey = "kagzi-test-plain-key-0123456789";

const denied = (namespace: string) => (e: KagziError) => {
  assert.ok(e instanceof KagziError, `expected a KagziError, got ${e}`);
  assert.equal(e.code, "PERMISSION_DENIED", e.message);
  assert.equal(e.subject, "namespace");
  assert.match(e.message, new RegExp(`does not cover namespace "${namespace}"`));
  return true;
};

/** Postgres when there is one (quicker to start), else embedded. */
const backend = (await backends()).at(-1)!;

Deno.test(`API keys scoped to namespaces reach only those, on Connect, gRPC-Web and native gRPC (${backend})`, async (t) => {
  await using server = await startTestServer(backend, {
    env: { KAGZI_API_KEYS: `${ordersKey}=orders,billing;${adminKey}=*;${plainKey}` },
  });
  const clients = {
    "connect+proto": (apiKey: string, namespace = "orders") =>
      Kagzi.connect(server.url, { apiKey, namespace }),
    "grpc-web": (apiKey: string, namespace = "orders") =>
      Kagzi.connect(server.url, { apiKey, namespace, protocol: "grpc-web" }),
    grpc: (apiKey: string, namespace = "orders") =>
      Kagzi.connect(server.grpcUrl, { apiKey, namespace, protocol: "grpc" }),
  };

  for (const [protocol, connect] of Object.entries(clients)) {
    await t.step(`${protocol}: covered namespaces work, others are PERMISSION_DENIED`, async () => {
      const orders = await connect(ordersKey); // connect() calls HealthCheck: open to any key
      assert.equal((await orders.health()).healthy, true);
      const run = await orders.start("ship").id(`o-${protocol}`);
      assert.equal((await orders.get(run.id)).workflowId, `o-${protocol}`);
      await orders.start("bill").namespace("billing").id(`b-${protocol}`);
      await orders.schedule(`s-${protocol}`).namespace("billing").workflow("bill")
        .cron("0 6 * * *");

      const other = await connect(ordersKey, "default");
      await assert.rejects(other.start("ship"), denied("default"));
      await assert.rejects(orders.get(run.id).namespace("secret"), denied("secret"));
      await assert.rejects(orders.list().namespace("secret"), denied("secret"));
      await assert.rejects(orders.cancel(run.id).namespace("secret"), denied("secret"));
      await assert.rejects(orders.listSchedules({ namespace: "secret" }), denied("secret"));
      await assert.rejects(
        orders.schedule("x").namespace("secret").workflow("w").cron("0 6 * * *"),
        denied("secret"),
      );
      await assert.rejects(orders.listWorkers({ namespace: "secret" }), denied("secret"));
      await assert.rejects(orders.serverInfo({ namespace: "secret" }), denied("secret"));

      // The admin key and a plain key reach every namespace.
      for (const key of [adminKey, plainKey]) {
        const admin = await connect(key, "secret");
        await admin.start("ship").id(`a-${protocol}-${key.slice(11, 16)}`);
        assert.equal(
          (await admin.get(run.id).namespace("orders")).workflowId,
          `o-${protocol}`,
        );
      }
    });
  }

  await t.step(
    "a worker with a scoped key runs its namespace and cannot register elsewhere",
    async () => {
      await assert.rejects(
        Worker.builder(server.url).apiKey(ordersKey).namespace("secret")
          .workflows({ w: () => Promise.resolve() }).build(),
        denied("secret"),
      );
      const worker = await Worker.builder(server.url).apiKey(ordersKey).namespace("orders")
        .workflows({ greet: (_ctx, name: string) => Promise.resolve(`hello ${name}`) }).build();
      const running = worker.run();
      try {
        const client = await Kagzi.connect(server.url, { apiKey: ordersKey, namespace: "orders" });
        const run = await client.start("greet").input("scoped");
        assert.equal(await run.result({ timeout: "20s" }), "hello scoped");
      } finally {
        await worker.shutdown();
        await running;
      }
    },
  );

  await t.step("raw Connect JSON: 403 permission_denied naming the namespace", async () => {
    for (const body of [{ namespace: "secret", workflowType: "t" }, { workflowType: "t" }]) {
      const res = await fetch(`${server.url}/kagzi.v1.WorkflowService/StartWorkflow`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ordersKey}` },
        body: JSON.stringify(body),
      });
      const json = await res.json();
      assert.equal(res.status, 403);
      assert.equal(json.code, "permission_denied");
      assert.equal(json.details[0].debug.subject, "namespace");
      assert.equal(json.details[0].debug.subjectId, body.namespace ?? "default");
    }
    const admin = await Kagzi.connect(server.url, { apiKey: adminKey, namespace: "default" });
    assert.equal((await admin.list().withTotal()).totalCount, 0, "nothing started in default");
    assert.equal((await admin.list().namespace("secret").withTotal()).totalCount, 6);
  });

  await t.step(
    "native gRPC (@grpc/grpc-js): PERMISSION_DENIED (7) outside the key's scope",
    async () => {
      const native = new grpc.Client(
        `127.0.0.1:${server.grpcPort}`,
        grpc.credentials.createInsecure(),
      );
      try {
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${ordersKey}`);
        await assert.rejects(
          grpcUnary(
            native,
            "/kagzi.v1.WorkflowService/StartWorkflow",
            StartWorkflowRequestSchema,
            StartWorkflowResponseSchema,
            create(StartWorkflowRequestSchema, { namespace: "secret", workflowType: "t" }),
            md,
          ),
          (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED,
        );
        const workers = await grpcUnary(
          native,
          "/kagzi.v1.AdminService/ListWorkers",
          ListWorkersRequestSchema,
          ListWorkersResponseSchema,
          create(ListWorkersRequestSchema, { namespace: "billing" }),
          md,
        );
        assert.deepEqual(workers.workers, []);
      } finally {
        native.close();
      }
    },
  );
});
