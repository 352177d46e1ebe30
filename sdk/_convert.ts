import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  type StepAttempt,
  StepKind,
  type StepRef,
  WaitKind,
  type WorkerInfo,
  type Workflow as WorkflowMessage,
  WorkflowStatus as WireStatus,
} from "@kagzi/proto";
import { decodeJson } from "./_payload.ts";
import { failureOf, KagziError } from "./errors.ts";
import type {
  StepAttemptInfo,
  StepRefInfo,
  WorkerSummary,
  Workflow,
  WorkflowStatus,
} from "./types.ts";

const statuses: Record<WireStatus, WorkflowStatus | undefined> = {
  [WireStatus.UNSPECIFIED]: undefined,
  [WireStatus.PENDING]: "PENDING",
  [WireStatus.RUNNING]: "RUNNING",
  [WireStatus.SLEEPING]: "SLEEPING",
  [WireStatus.COMPLETED]: "COMPLETED",
  [WireStatus.FAILED]: "FAILED",
  [WireStatus.CANCELLED]: "CANCELLED",
  [WireStatus.PARKED]: "PARKED",
  [WireStatus.PAUSED]: "PAUSED",
};

/** The wire status of a status name; throws naming the value when unknown. */
export function statusToWire(s: WorkflowStatus): WireStatus {
  const n = WireStatus[s as keyof typeof WireStatus];
  if (typeof n !== "number" || n === WireStatus.UNSPECIFIED) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Invalid status ${JSON.stringify(s)}: use one of ${
        Object.values(statuses).filter(Boolean).join(", ")
      }`,
      {
        subject: "status",
        nonRetryable: true,
      },
    );
  }
  return n;
}

/** The status name of a wire status. */
export function statusFromWire(s: WireStatus): WorkflowStatus {
  return statuses[s] ?? "PENDING";
}

const date = (t: Timestamp | undefined) => (t ? timestampDate(t) : undefined);

/** A wire Workflow as the SDK's {@linkcode Workflow}. */
export function workflowFromWire(w: WorkflowMessage): Workflow {
  // Payloads decode when read, so a run with a malformed payload can still be inspected.
  let input: { v: unknown } | undefined;
  let output: { v: unknown } | undefined;
  return {
    get input() {
      input ??= { v: w.input ? decodeJson(w.input, "input") : undefined };
      return input.v;
    },
    get output() {
      output ??= { v: w.output ? decodeJson(w.output, "output") : undefined };
      return output.v;
    },
    id: w.runId,
    workflowId: w.workflowId,
    namespace: w.namespace,
    type: w.workflowType,
    version: w.version,
    status: statusFromWire(w.status),
    error: w.error ? failureOf(w.error) : undefined,
    attempts: w.attempt,
    createdAt: date(w.createdAt) ?? new Date(0),
    updatedAt: date(w.updatedAt) ?? new Date(0),
    startedAt: date(w.startedAt),
    finishedAt: date(w.finishedAt),
    wakeUpAt: date(w.wakeUpAt),
    deadlineAt: date(w.deadlineAt),
    scheduleId: w.scheduleId || undefined,
    workerId: w.workerId || undefined,
    retriedFromRunId: w.retriedFromRunId || undefined,
    reruns: [...w.rerunRunIds],
    tags: { ...w.tags },
    parentRunId: w.parentRunId || undefined,
    waits: w.waits.map((x) => ({
      kind: waitKinds[x.kind] ?? "sleep",
      name: x.name,
      until: date(x.until),
      childRunId: x.childRunId || undefined,
    })),
    parked: w.parked && {
      expected: stepRefFromWire(w.parked.expected),
      asked: stepRefFromWire(w.parked.asked),
      at: date(w.parked.parkedAt) ?? new Date(0),
      workerId: w.parked.workerId,
    },
    unserved: w.unserved && { lastServedAt: date(w.unserved.lastServedAt) },
    priority: w.priority,
    waitingFor: w.waitingFor && {
      kind: w.waitingFor.kind,
      key: w.waitingFor.key,
      limit: w.waitingFor.limit,
      path: w.waitingFor.path,
    },
  };
}

/** A wire StepRef as a {@linkcode StepRefInfo}. */
export function stepRefFromWire(s: StepRef | undefined): StepRefInfo {
  return {
    kind: stepKinds[s?.kind ?? StepKind.FUNCTION] ?? "function",
    name: s?.name ?? "",
    occurrence: s?.occurrence ?? 0,
  };
}

const workerStatuses = ["ONLINE", "DRAINING", "OFFLINE"] as const;
const healths = ["HEALTHY", "DEGRADED", "UNHEALTHY", "OFFLINE"] as const;
const stepStatuses = ["RUNNING", "COMPLETED", "FAILED", "SLEEPING", "WAITING"] as const;
const stepKinds: Record<number, StepRefInfo["kind"]> = {
  [StepKind.FUNCTION]: "function",
  [StepKind.SLEEP]: "sleep",
  [StepKind.SIGNAL]: "signal",
  [StepKind.CHILD]: "child",
  [StepKind.TOKEN]: "token",
  [StepKind.ANY]: "any",
};
const waitKinds: Record<number, Workflow["waits"][number]["kind"]> = {
  [WaitKind.SLEEP]: "sleep",
  [WaitKind.SIGNAL]: "signal",
  [WaitKind.CHILD]: "child",
  [WaitKind.RETRY]: "retry",
  [WaitKind.TOKEN]: "token",
  [WaitKind.ANY]: "any",
};

/** A wire WorkerInfo as a {@linkcode WorkerSummary}. */
export function workerFromWire(w: WorkerInfo): WorkerSummary {
  return {
    id: w.workerId,
    namespace: w.namespace,
    workflowTypes: w.workflowTypes.map((t) => ({ type: t.workflowType, versions: t.versions })),
    hostname: w.hostname,
    pid: w.pid,
    sdkVersion: w.sdkVersion,
    version: w.version,
    labels: w.labels,
    maxConcurrent: w.maxConcurrent,
    status: workerStatuses[w.status - 1] ?? "OFFLINE",
    health: healths[w.health - 1] ?? "OFFLINE",
    activeCount: w.activeCount,
    completedCount: Number(w.completedCount),
    failedCount: Number(w.failedCount),
    registeredAt: date(w.registeredAt),
    lastHeartbeatAt: date(w.lastHeartbeatAt),
  };
}

/** A wire StepAttempt as a {@linkcode StepAttemptInfo}. */
export function stepAttemptFromWire(s: StepAttempt): StepAttemptInfo {
  let output: { v: unknown } | undefined;
  return {
    runId: s.runId,
    kind: stepKinds[s.step?.kind ?? StepKind.FUNCTION] ?? "function",
    childRunId: s.childRunId || undefined,
    name: s.step?.name ?? "",
    occurrence: s.step?.occurrence ?? 0,
    attempt: s.attempt,
    status: stepStatuses[s.status - 1] ?? "RUNNING",
    get output() {
      output ??= { v: s.output ? decodeJson(s.output, "output") : undefined };
      return output.v;
    },
    outputSize: Number(s.outputSize),
    error: s.error ? failureOf(s.error) : undefined,
    workerId: s.workerId,
    startedAt: date(s.startedAt),
    finishedAt: date(s.finishedAt),
    retryAt: date(s.retryAt),
    wakeUpAt: date(s.wakeUpAt),
    supersededAt: date(s.supersededAt),
  };
}
