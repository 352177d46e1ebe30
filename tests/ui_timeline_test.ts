import assert from "node:assert/strict";
import { KagziError, type StepAttemptInfo } from "@kagzi/sdk/client";
import { describeWait, timeline } from "../server/ui/src/timeline.ts";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
function attempt(p: Partial<StepAttemptInfo>): StepAttemptInfo {
  return {
    runId: "r",
    kind: "function",
    name: "a",
    occurrence: 1,
    attempt: 1,
    status: "COMPLETED",
    childRunId: undefined,
    output: undefined,
    outputSize: 0,
    error: undefined,
    workerId: "w",
    startedAt: at(0),
    finishedAt: at(1),
    retryAt: undefined,
    wakeUpAt: undefined,
    supersededAt: undefined,
    ...p,
  };
}

Deno.test("timeline() groups attempts per step identity, in start order, with the last status", () => {
  const steps = timeline([
    attempt({ name: "charge", attempt: 1, status: "FAILED", startedAt: at(0), finishedAt: at(1) }),
    attempt({
      kind: "sleep",
      name: "wait",
      status: "COMPLETED",
      startedAt: at(1),
      finishedAt: undefined,
      wakeUpAt: at(2),
    }),
    attempt({
      name: "charge",
      attempt: 2,
      status: "COMPLETED",
      startedAt: at(3),
      finishedAt: at(4),
    }),
    attempt({ name: "charge", occurrence: 2, startedAt: at(5) }),
    attempt({
      kind: "child",
      name: "email",
      status: "WAITING",
      childRunId: "c1",
      finishedAt: undefined,
    }),
  ]);
  assert.deepEqual(steps.map((s) => [s.label, s.status, s.attempts.length]), [
    ["charge", "COMPLETED", 2],
    ["wait", "COMPLETED", 1],
    ["charge #2", "COMPLETED", 1],
    ["email", "WAITING", 1],
  ]);
  assert.equal(steps[0].finishedAt?.getTime(), at(4).getTime());
  assert.equal(steps[1].finishedAt?.getTime(), at(2).getTime(), "a sleep ends when it was due");
  assert.equal(steps[3].childRunId, "c1");
  assert.equal(steps[3].finishedAt, undefined, "a waiting child has not ended");
});

Deno.test("a signal wait that timed out is TIMED_OUT, not FAILED; set-aside attempts SUPERSEDED", () => {
  const steps = timeline([
    attempt({
      kind: "signal",
      name: "approve",
      status: "FAILED",
      error: new KagziError("TIMEOUT", 'No signal "approve" arrived in time'),
    }),
    attempt({ name: "charge-card", startedAt: at(2), supersededAt: at(9) }),
    attempt({ name: "charge-card", startedAt: at(10) }),
    attempt({ name: "ship", status: "FAILED", error: new KagziError("APPLICATION", "no truck") }),
  ]);
  assert.deepEqual(steps.map((s) => [s.label, s.status]), [
    ["approve", "TIMED_OUT"],
    ["charge-card (superseded)", "SUPERSEDED"],
    ["charge-card", "COMPLETED"],
    ["ship", "FAILED"],
  ]);
});

Deno.test("describeWait() says what a run waits for in words", () => {
  const now = at(0).getTime();
  assert.match(
    describeWait({ kind: "signal", name: "approve", until: at(90), childRunId: undefined }, now),
    /^Waiting for signal "approve", timing out at .* \(in 1 min 30 s\)$/,
  );
  assert.equal(
    describeWait({ kind: "signal", name: "approve", until: undefined, childRunId: undefined }, now),
    'Waiting for signal "approve"',
  );
  assert.match(
    describeWait({ kind: "sleep", name: "cool-off", until: at(5), childRunId: undefined }, now),
    /^Sleeping \("cool-off"\) until .* \(in 5\.0 s\)$/,
  );
  assert.equal(
    describeWait({ kind: "child", name: "email", until: undefined, childRunId: "c1" }, now),
    'Waiting for child run "email" (c1)',
  );
  assert.match(
    describeWait({ kind: "any", name: "ok|no|late", until: at(60), childRunId: undefined }, now),
    /^Waiting for the first of ok, no, late \(the earliest deadline .* \(in 1 min 0 s\)\)$/,
  );
  assert.equal(
    describeWait({
      kind: "token",
      name: "manager-approval",
      until: undefined,
      childRunId: undefined,
    }, now),
    'Token "manager-approval" open',
  );
});
