import assert from "node:assert/strict";
import { BackoffKind } from "@kagzi/proto";
import { Retry, retryToProto } from "./retry.ts";

const ms = (d?: { seconds: bigint; nanos: number }) =>
  Number(d?.seconds ?? 0n) * 1000 + (d?.nanos ?? 0) / 1e6;

Deno.test("Retry.exponential() sends attempts, intervals, backoff and non-retryable names", () => {
  const p = retryToProto(
    Retry.exponential(5).initial("1s").max("60s").backoff(3).nonRetryable(["NotFound"]),
  );
  assert.equal(p.maximumAttempts, 5);
  assert.equal(ms(p.initialInterval), 1_000);
  assert.equal(ms(p.maximumInterval), 60_000);
  assert.equal(p.backoffCoefficient, 3);
  assert.deepEqual(p.nonRetryableErrors, ["NotFound"]);
  assert.equal(p.backoff, BackoffKind.EXPONENTIAL);
});

Deno.test("Retry presets: attempts, linear, none and forever", () => {
  assert.equal(retryToProto(Retry.attempts(3)).maximumAttempts, 3);
  const linear = retryToProto(Retry.linear(4, "2s"));
  assert.equal(linear.backoff, BackoffKind.LINEAR);
  assert.equal(ms(linear.initialInterval), 2_000);
  assert.equal(Retry.none().maximumAttempts, 1);
  assert.equal(Retry.forever().maximumAttempts, 0);
});

Deno.test("Retry builders are immutable and reject bad values naming them", () => {
  const base = Retry.attempts(3);
  base.initial("5s");
  assert.equal(ms(retryToProto(base).initialInterval), 1_000);
  assert.throws(() => Retry.attempts(0), /attempts 0/);
  assert.throws(() => Retry.attempts(3).backoff(0.5), /backoff 0.5/);
  assert.throws(() => Retry.attempts(3).initial("soon"), /initial "soon"/);
});
