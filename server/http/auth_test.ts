import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { createContextValues } from "@connectrpc/connect";
import {
  AdminService,
  HealthCheckRequestSchema,
  StartWorkflowRequestSchema,
  WorkflowService,
} from "@kagzi/proto";
import { ApiKeyCheck, callerScope, type KeyScope, scopeInterceptor } from "./auth.ts";
import { PermissionDeniedError, UnauthorizedError } from "../errors.ts";

const keys = new ApiKeyCheck([
  { key: "orders-key-0123456789", namespaces: ["orders"], admin: false },
  { key: "admin-key-0123456789", namespaces: "*", admin: true },
]);
const bearer = (key: string) => new Headers({ authorization: `Bearer ${key}` });

/** Runs the scope interceptor for a request of `method` carrying `message`. */
async function call(scope: KeyScope, method: { name: string; input: unknown }, message: unknown) {
  const contextValues = createContextValues();
  contextValues.set(callerScope, scope);
  const next = () => Promise.resolve("called" as unknown);
  // deno-lint-ignore no-explicit-any
  return await (scopeInterceptor(next as any) as any)({ method, message, contextValues });
}

Deno.test("ApiKeyCheck.authenticate() returns the key's scope, or UNAUTHORIZED naming the problem", () => {
  const orders = keys.authenticate("StartWorkflow", bearer("orders-key-0123456789"));
  assert.ok(!(orders instanceof Error));
  assert.equal(orders.admin, false);
  assert.deepEqual([...(orders.namespaces as Set<string>)], ["orders"]);
  const admin = keys.authenticate("StartWorkflow", bearer("admin-key-0123456789"));
  assert.deepEqual(admin, { namespaces: "*", admin: true });
  for (
    const [header, pattern] of [
      [new Headers(), /missing "authorization"/],
      [new Headers({ authorization: "Basic x" }), /must be "Bearer <key>"/],
      [bearer("nope-nope-nope-nope"), /not accepted/],
    ] as const
  ) {
    const refused = keys.authenticate("StartWorkflow", header);
    assert.ok(refused instanceof UnauthorizedError);
    assert.match(refused.message, pattern);
  }
});

Deno.test("scopeInterceptor: namespaces outside the key and server-wide calls need the right key", async () => {
  const orders: KeyScope = { namespaces: new Set(["orders"]), admin: false };
  const admin: KeyScope = { namespaces: "*", admin: true };
  const start = WorkflowService.method.startWorkflow;
  const msg = (namespace: string) => create(StartWorkflowRequestSchema, { namespace });
  assert.equal(await call(orders, start, msg("orders")), "called");
  await assert.rejects(call(orders, start, msg("billing")), (e: PermissionDeniedError) => {
    assert.ok(e instanceof PermissionDeniedError);
    assert.equal(e.subject, "namespace");
    assert.equal(e.subjectId, "billing");
    return true;
  });
  // Empty means "default".
  await assert.rejects(call(orders, start, msg("")), /does not cover namespace "default"/);
  assert.equal(await call(admin, start, msg("anything")), "called");

  // HealthCheck names no namespace but is open to every key (the SDK calls it to connect).
  const health = AdminService.method.healthCheck;
  assert.equal(await call(orders, health, create(HealthCheckRequestSchema)), "called");
  // Any other call without a namespace is server-wide: admin keys only.
  const serverWide = { name: "PurgeEverything", parent: AdminService, input: { fields: [] } };
  await assert.rejects(call(orders, serverWide, {}), (e: PermissionDeniedError) => {
    assert.ok(e instanceof PermissionDeniedError);
    assert.match(e.message, /server-wide call: it needs an admin key/);
    return true;
  });
  assert.equal(await call(admin, serverWide, {}), "called");
});
