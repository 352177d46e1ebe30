import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { BackoffKind, ErrorDetailSchema, RetryPolicySchema } from "@kagzi/proto";
import { resolvePolicy, retryDelay, serverDefaultPolicy } from "./retry.ts";

const err = (fields: MessageInitShape<typeof ErrorDetailSchema> = {}) =>
  create(ErrorDetailSchema, { message: "boom", name: "Error", ...fields });

Deno.test("retryDelay() doubles from the initial interval up to the maximum, within jitter", () => {
  const p = resolvePolicy(create(RetryPolicySchema, {
    maximumAttempts: 10,
    initialInterval: durationFromMs(100),
    maximumInterval: durationFromMs(1_000),
    backoffCoefficient: 2,
  }));
  const lo = () => 0;
  const hi = () => 0.999999;
  assert.equal(retryDelay(p, 1, err(), () => 0.5), 100);
  assert.equal(retryDelay(p, 3, err(), () => 0.5), 400);
  assert.equal(retryDelay(p, 3, err(), lo), 320);
  assert.equal(retryDelay(p, 3, err(), hi), 480);
  assert.equal(retryDelay(p, 8, err(), hi), 1_000, "capped at the maximum");
});

Deno.test("retryDelay() stops at maximum_attempts, non-retryable errors and names", () => {
  const p = resolvePolicy(create(RetryPolicySchema, {
    maximumAttempts: 3,
    nonRetryableErrors: ["InvalidArgument"],
  }));
  assert.notEqual(retryDelay(p, 2, err()), undefined);
  assert.equal(retryDelay(p, 3, err()), undefined);
  assert.equal(retryDelay(p, 1, err({ nonRetryable: true })), undefined);
  assert.equal(retryDelay(p, 1, err({ name: "InvalidArgument" })), undefined);
  const forever = resolvePolicy(create(RetryPolicySchema, { maximumAttempts: 0 }));
  assert.notEqual(retryDelay(forever, 1_000, err()), undefined);
});

Deno.test("retryDelay() honours retry_after and linear backoff", () => {
  const p = resolvePolicy(create(RetryPolicySchema, {
    backoff: BackoffKind.LINEAR,
    initialInterval: durationFromMs(2_000),
    maximumAttempts: 5,
  }));
  assert.equal(retryDelay(p, 4, err(), () => 0.5), 2_000);
  assert.equal(retryDelay(p, 1, err({ retryAfter: durationFromMs(10_000) })), 10_000);
});

Deno.test("resolvePolicy() lets the step win over the run and the worker, field by field", () => {
  const step = create(RetryPolicySchema, { maximumAttempts: 7 });
  const run = create(RetryPolicySchema, {
    maximumAttempts: 3,
    initialInterval: durationFromMs(50),
    backoffCoefficient: 3,
  });
  const worker = create(RetryPolicySchema, {
    maximumAttempts: 2,
    initialInterval: durationFromMs(5),
    maximumInterval: durationFromMs(9_000),
    backoffCoefficient: 1.5,
    backoff: BackoffKind.LINEAR,
  });
  const p = resolvePolicy(step, run, worker);
  assert.equal(p.maximumAttempts, 7, "the step's");
  assert.equal(p.initialMs, 50, "the run's, over the worker's");
  assert.equal(p.coefficient, 3, "the run's, over the worker's");
  assert.equal(p.maximumMs, 9_000, "the worker's: set by nobody else");
  assert.equal(p.backoff, "linear", "the worker's: set by nobody else");
  assert.deepEqual(p.nonRetryable, serverDefaultPolicy.nonRetryable, "the server's default");
  // Without a run policy the worker's fields fill in under the step's.
  const q = resolvePolicy(step, undefined, worker);
  assert.equal(q.maximumAttempts, 7);
  assert.equal(q.initialMs, 5);
  assert.equal(q.coefficient, 1.5);
});
