/** Conversions between stored rows and `kagzi.v1` messages. */
import { slotKeyParts } from "./_flow_keys.ts";
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type ErrorDetail,
  ErrorDetailSchema,
  type Parked,
  ParkedSchema,
  type Payload,
  PayloadSchema,
  type RetryPolicy,
  RetryPolicySchema,
  StepKind,
  type Workflow,
  WorkflowSchema,
  WorkflowStatus,
} from "@kagzi/proto";
import type { ParkedJson, RunRow, RunStatus, StepRefJson } from "../store/runs.ts";

const statusNames: Record<RunStatus, WorkflowStatus> = {
  PENDING: WorkflowStatus.PENDING,
  RUNNING: WorkflowStatus.RUNNING,
  SLEEPING: WorkflowStatus.SLEEPING,
  PARKED: WorkflowStatus.PARKED,
  PAUSED: WorkflowStatus.PAUSED,
  COMPLETED: WorkflowStatus.COMPLETED,
  FAILED: WorkflowStatus.FAILED,
  CANCELLED: WorkflowStatus.CANCELLED,
};

/** The wire enum of a stored status. */
export function statusToProto(s: RunStatus): WorkflowStatus {
  return statusNames[s];
}

/** The stored status of a wire enum, or undefined for UNSPECIFIED and unknown numbers. */
export function statusFromProto(s: WorkflowStatus): RunStatus | undefined {
  return (Object.keys(statusNames) as RunStatus[]).find((k) => statusNames[k] === s);
}

/** Whether a stored status is terminal. */
export function isTerminal(s: RunStatus): boolean {
  return s === "COMPLETED" || s === "FAILED" || s === "CANCELLED";
}

/** A Date as a Timestamp, absent for null. */
export function ts(d: Date | null | undefined) {
  return d ? timestampFromDate(d) : undefined;
}

/** An ErrorDetail as stored JSON. */
export function errorToJson(e: ErrorDetail): JsonValue {
  return toJson(ErrorDetailSchema, e);
}

/** A stored ErrorDetail, absent for null. */
export function errorFromJson(j: unknown): ErrorDetail | undefined {
  return j == null ? undefined : fromJson(ErrorDetailSchema, j as JsonValue, {
    ignoreUnknownFields: true,
  });
}

/** A RetryPolicy as stored JSON, null when absent. */
export function retryToJson(p: RetryPolicy | undefined): JsonValue | null {
  return p ? toJson(RetryPolicySchema, p) : null;
}

/** A stored RetryPolicy, absent for null. */
export function retryFromJson(j: unknown): RetryPolicy | undefined {
  return j == null ? undefined : fromJson(RetryPolicySchema, j as JsonValue, {
    ignoreUnknownFields: true,
  });
}

/** A stored payload, absent when there is none. */
export function payloadOf(
  data: Uint8Array | null | undefined,
  metadata: Record<string, string> | null | undefined,
): Payload | undefined {
  if (data == null) return undefined;
  return create(PayloadSchema, { data, metadata: metadata ?? {} });
}

/** A run row as a Workflow message. */
export function runToProto(r: RunRow): Workflow {
  return create(WorkflowSchema, {
    runId: r.run_id,
    workflowId: r.workflow_id,
    namespace: r.namespace_id,
    workflowType: r.workflow_type,
    version: r.version,
    status: statusToProto(r.status),
    input: payloadOf(r.input_data, r.input_metadata),
    output: payloadOf(r.output_data, r.output_metadata),
    context: payloadOf(r.context_data, r.context_metadata),
    error: errorFromJson(r.error),
    attempt: r.attempt,
    createdAt: ts(r.created_at),
    startedAt: ts(r.started_at),
    finishedAt: ts(r.finished_at),
    updatedAt: ts(r.updated_at),
    wakeUpAt: ts(r.wake_up_at),
    deadlineAt: ts(r.deadline_at),
    scheduleId: r.schedule_id ?? "",
    parentRunId: r.parent_run_id ?? "",
    workerId: r.status === "RUNNING" ? (r.worker_id ?? "") : "",
    retryPolicy: retryFromJson(r.retry_policy),
    retriedFromRunId: r.retried_from_run_id ?? "",
    traceparent: r.traceparent ?? "",
    parked: r.status === "PARKED" && r.parked ? parkedToProto(r.parked) : undefined,
    tags: r.tags ?? {},
    priority: r.priority ?? 0,
    waitingFor: r.flow_wait && r.status === "PENDING"
      ? { kind: "concurrency", ...slotKeyParts(r.flow_wait), limit: r.flow_wait_cap ?? 0 }
      : r.status === "PENDING" && r.rate_limited
      ? {
        kind: "rate_limit",
        key: r.rate_key ?? "",
        limit: r.rate_limit?.limit ?? 0,
        path: r.rate_limit?.key ?? "",
      }
      : undefined,
  });
}

const stepKinds: Record<StepRefJson["kind"], StepKind> = {
  FUNCTION: StepKind.FUNCTION,
  SLEEP: StepKind.SLEEP,
  SIGNAL: StepKind.SIGNAL,
  CHILD: StepKind.CHILD,
  TOKEN: StepKind.TOKEN,
  ANY: StepKind.ANY,
};

/** A stored step reference as the wire's. */
export function stepRefToProto(
  s: StepRefJson,
): { kind: StepKind; name: string; occurrence: number } {
  return { kind: stepKinds[s.kind], name: s.name, occurrence: s.occurrence };
}

/** Where a parked run's code and history parted, as the wire's Parked. */
export function parkedToProto(p: ParkedJson): Parked {
  return create(ParkedSchema, {
    expected: p.expected ? stepRefToProto(p.expected) : undefined,
    asked: stepRefToProto(p.asked),
    unasked: p.unasked.map(stepRefToProto),
    parkedAt: ts(new Date(p.parkedAt)),
    workerId: p.workerId,
  });
}
