import { create } from "@bufbuild/protobuf";
import {
  type StepAttempt,
  StepAttemptSchema,
  StepKind,
  type StepRecord,
  StepRecordSchema,
  StepStatus,
  WaitKind,
  type WorkflowWait,
  WorkflowWaitSchema,
} from "@kagzi/proto";
import type { StepRow } from "../store/steps.ts";

import { errorFromJson, payloadOf, ts } from "./_convert.ts";

const kinds = {
  FUNCTION: StepKind.FUNCTION,
  SLEEP: StepKind.SLEEP,
  SIGNAL: StepKind.SIGNAL,
  CHILD: StepKind.CHILD,
  TOKEN: StepKind.TOKEN,
  ANY: StepKind.ANY,
} as const;
const statuses = {
  RUNNING: StepStatus.RUNNING,
  COMPLETED: StepStatus.COMPLETED,
  FAILED: StepStatus.FAILED,
  SLEEPING: StepStatus.SLEEPING,
  WAITING: StepStatus.WAITING,
} as const;

/** A step row as the replay record a worker receives. */
export function stepRecordToProto(s: StepRow): StepRecord {
  return create(StepRecordSchema, {
    step: { kind: kinds[s.kind], name: s.name, occurrence: s.occurrence },
    status: statuses[s.status],
    output: payloadOf(s.output, s.output_metadata),
    error: errorFromJson(s.error),
    attempt: s.attempt,
    retryAt: ts(s.retry_at),
    wakeUpAt: ts(s.wake_up_at),
    due: s.due,
    childRunId: s.child_run_id ?? "",
    startedAt: ts(s.started_at),
    tokenId: s.token_id ?? "",
    anyKey: s.any_key ?? "",
  });
}

/** A step row as one attempt in ListSteps / GetStep. */
export function stepAttemptToProto(s: StepRow): StepAttempt {
  return create(StepAttemptSchema, {
    runId: s.run_id,
    step: { kind: kinds[s.kind], name: s.name, occurrence: s.occurrence },
    attempt: s.attempt,
    status: statuses[s.status],
    outputSize: BigInt(s.output_size),
    output: payloadOf(s.output, s.output_metadata),
    error: errorFromJson(s.error),
    workerId: s.worker_id ?? "",
    startedAt: ts(s.started_at),
    finishedAt: ts(s.finished_at),
    retryAt: ts(s.retry_at),
    wakeUpAt: ts(s.wake_up_at),
    childRunId: s.child_run_id ?? "",
    supersededAt: ts(s.superseded_at),
  });
}

/** An open wait (from {@linkcode openWaits}) as a WorkflowWait. */
export function waitToProto(s: StepRow): WorkflowWait {
  const kind = s.kind === "SIGNAL"
    ? WaitKind.SIGNAL
    : s.kind === "TOKEN"
    ? WaitKind.TOKEN
    : s.kind === "ANY"
    ? WaitKind.ANY
    : s.kind === "CHILD"
    ? WaitKind.CHILD
    : s.kind === "SLEEP"
    ? WaitKind.SLEEP
    : WaitKind.RETRY;
  return create(WorkflowWaitSchema, {
    kind,
    name: s.name,
    until: ts(s.kind === "FUNCTION" ? s.retry_at : s.wake_up_at),
    childRunId: s.child_run_id ?? "",
  });
}
