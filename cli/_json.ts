/** The JSON forms the CLI prints for runs, steps, workers and schedules (dates as ISO strings). */
import type { KagziError, Schedule, StepAttemptInfo, WorkerSummary, Workflow } from "@kagzi/sdk";

/** An error as `{ code, message, name?, subject?, subjectId? }`. */
export function errorJson(e: KagziError | undefined): unknown {
  if (!e) return undefined;
  return {
    code: e.code,
    message: e.message,
    name: e.metadata.name,
    subject: e.subject || undefined,
    subjectId: e.subjectId || undefined,
    nonRetryable: e.nonRetryable || undefined,
  };
}

/** A run; `input` only when it was read (show, not list). */
export function workflowJson(
  w: Workflow,
  withInput = false,
): Record<string, unknown> {
  return {
    runId: w.id,
    workflowId: w.workflowId,
    namespace: w.namespace,
    type: w.type,
    version: w.version,
    status: w.status,
    attempts: w.attempts,
    ...(withInput ? { input: w.input } : {}),
    output: w.output,
    error: errorJson(w.error),
    createdAt: w.createdAt,
    startedAt: w.startedAt,
    finishedAt: w.finishedAt,
    wakeUpAt: w.wakeUpAt,
    deadlineAt: w.deadlineAt,
    scheduleId: w.scheduleId,
    workerId: w.workerId,
    parentRunId: w.parentRunId,
    retriedFromRunId: w.retriedFromRunId,
    reruns: w.reruns,
    tags: w.tags,
    parked: w.parked,
    unserved: w.unserved,
  };
}

/** One step attempt. */
export function stepJson(s: StepAttemptInfo): Record<string, unknown> {
  return {
    kind: s.kind,
    name: s.name,
    occurrence: s.occurrence,
    attempt: s.attempt,
    status: s.status,
    output: s.status === "COMPLETED" ? s.output : undefined,
    error: errorJson(s.error),
    workerId: s.workerId || undefined,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    retryAt: s.retryAt,
    wakeUpAt: s.wakeUpAt,
    supersededAt: s.supersededAt,
  };
}

/** A worker. */
export function workerJson(w: WorkerSummary): Record<string, unknown> {
  return { ...w };
}

/** A schedule. */
export function scheduleJson(s: Schedule): Record<string, unknown> {
  return {
    id: s.id,
    namespace: s.namespace,
    workflowType: s.workflowType,
    cron: s.cron,
    timezone: s.timezone,
    input: s.input,
    version: s.version,
    enabled: s.enabled,
    maxCatchup: s.maxCatchup,
    nextFireAt: s.nextFireAt,
    lastFiredAt: s.lastFiredAt,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
