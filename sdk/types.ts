/** Shapes the client returns, and the run statuses with their open / ended helpers. */
import type { KagziError } from "./errors.ts";

/** Where a run is in its life. */
export type WorkflowStatus =
  | "PENDING"
  | "RUNNING"
  | "SLEEPING"
  | "PARKED"
  | "PAUSED"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLED";

/**
 * Every run status, in the order of a run's life: the open ones (PENDING, RUNNING, SLEEPING,
 * PARKED, PAUSED), then the ended ones (COMPLETED, FAILED, CANCELLED). PARKED is a run stopped on
 * a replay mismatch until an operator resumes or cancels it; PAUSED one an operator holds
 * (`client.pause()`) until `client.resume()` or a cancel.
 *
 * @example
 * ```ts
 * import { WORKFLOW_STATUSES } from "@kagzi/sdk/client";
 * console.log(WORKFLOW_STATUSES.join(", ")); // PENDING, RUNNING, SLEEPING, COMPLETED, …
 * ```
 */
export const WORKFLOW_STATUSES: readonly WorkflowStatus[] = Object.freeze([
  "PENDING",
  "RUNNING",
  "SLEEPING",
  "PARKED",
  "PAUSED",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
]);

const open: ReadonlySet<string> = new Set(["PENDING", "RUNNING", "SLEEPING", "PARKED", "PAUSED"]);

/**
 * Whether `status` is an open run's (PENDING, RUNNING, SLEEPING, PARKED or PAUSED): it may still change, and
 * it can be cancelled. False for the ended statuses and for any other text.
 *
 * @example
 * ```ts
 * import { isOpen } from "@kagzi/sdk/client";
 * console.log(isOpen("SLEEPING"), isOpen("FAILED")); // true false
 * ```
 */
export function isOpen(status: string): boolean {
  return open.has(status);
}

/**
 * Whether a run in `status` has ended (COMPLETED, FAILED or CANCELLED): it will not change again.
 *
 * @example
 * ```ts
 * import { isEnded } from "@kagzi/sdk/client";
 * console.log(isEnded("COMPLETED"), isEnded("RUNNING")); // true false
 * ```
 */
export function isEnded(status: WorkflowStatus): boolean {
  return WORKFLOW_STATUSES.includes(status) && !open.has(status);
}

/** A workflow run as stored by the server. */
export interface Workflow {
  /** The run id. */
  id: string;
  /** The idempotency key it was started with. */
  workflowId: string;
  /** The namespace it runs in. */
  namespace: string;
  /** The workflow type. */
  type: string;
  /** The version of the workflow type it runs. */
  version: string;
  /** Where the run is in its life. */
  status: WorkflowStatus;
  /** The input (not included in list results). */
  input: unknown;
  /** The output, once COMPLETED. */
  output: unknown;
  /**
   * Why it FAILED or was CANCELLED: the stored error with its own `name`, message, `stack` (where
   * it was thrown) and `cause`.
   */
  error: KagziError | undefined;
  /** Executions of the run so far (grows when a lost worker's run is picked up again). */
  attempts: number;
  /** When it was started. */
  createdAt: Date;
  /** When it last changed. */
  updatedAt: Date;
  /** When a worker first picked it up. */
  startedAt: Date | undefined;
  /** When it ended. */
  finishedAt: Date | undefined;
  /** When a SLEEPING run is due to resume. */
  wakeUpAt: Date | undefined;
  /** When it fails with TIMEOUT if it has not ended. */
  deadlineAt: Date | undefined;
  /** The schedule that started it, if any. */
  scheduleId: string | undefined;
  /** The worker running it now, if any. */
  workerId: string | undefined;
  /** The finished run this one retries (`client.retry` / `client.rerun`), if any. */
  retriedFromRunId: string | undefined;
  /** The runs retried or rerun from this one, oldest first (filled by `client.get`, empty in lists). */
  reruns: string[];
  /** Searchable attributes set at start (`start().tags()`). */
  tags: Record<string, string>;
  /** The run that started this one as a child workflow, if any. */
  parentRunId: string | undefined;
  /** What a waiting run waits for now (filled by `client.get`, empty in lists). */
  waits: WorkflowWait[];
  /** Why a PARKED run is parked: where its code and its history parted. */
  parked: ParkedInfo | undefined;
  /**
   * Set by `client.get` while the run waits (PENDING or SLEEPING) and no online worker serves
   * its type and version: nothing will pick it up until one registers.
   */
  unserved: { lastServedAt: Date | undefined } | undefined;
  /** Higher is claimed first; FIFO within one priority. */
  priority: number;
  /**
   * Set while the run is PENDING and held back by a flow-control limit: which one
   * (`{ kind: "concurrency", key: "cust-42", limit: 1 }`; `key` is "" for a limit over the
   * whole type, `path` the key's path).
   */
  waitingFor: { kind: string; key: string; limit: number; path: string } | undefined;
}

/** A step as the replay sees it: its kind, name and which use of the name in the run. */
export interface StepRefInfo {
  /** A function step, a durable sleep, a signal wait or a child workflow. */
  kind: "function" | "sleep" | "signal" | "child" | "token" | "any";
  /** The step's name. */
  name: string;
  /** Which use of the name in the run (from 1). */
  occurrence: number;
}

/** Why a run is PARKED: its code asked for `asked` where its history recorded `expected`. */
export interface ParkedInfo {
  /** The step the history recorded there (the earliest one the replay did not ask for). */
  expected: StepRefInfo;
  /** The step the code asked for instead. */
  asked: StepRefInfo;
  /** When it parked. */
  at: Date;
  /** The worker whose replay parked it. */
  workerId: string;
}

/** One thing a suspended run waits for. */
export interface WorkflowWait {
  /** A durable sleep, a signal, a child run, or a step's next attempt. */
  kind: "sleep" | "signal" | "child" | "retry" | "token" | "any";
  /** The sleep's, signal's, child's or step's name. */
  name: string;
  /** When the sleep ends, the signal wait times out or the retry runs; undefined: no limit. */
  until: Date | undefined;
  /** The child's run id, for a child wait. */
  childRunId: string | undefined;
}

/** One page of a workflow listing. */
export interface WorkflowPage {
  /** The runs on this page. */
  workflows: Workflow[];
  /** Pass to `.pageToken()` for the next page; empty on the last one. */
  nextPageToken: string;
  /** Only when asked for with `.withTotal()`. */
  totalCount: number | undefined;
}

/** The server's health. */
export interface Health {
  /** True when the server can serve requests. */
  healthy: boolean;
  /** True when the database answers. */
  databaseOk: boolean;
  /** What is wrong, when something is. */
  message: string;
}

/** What the server is. */
export interface ServerInfo {
  /** The server's version. */
  version: string;
  /** The version of the `kagzi.v1` API it serves. */
  apiVersion: string;
  /** Optional features it supports. */
  features: string[];
  /** "postgres" or "embedded". */
  database: string;
  /** The version new runs of each workflow type get when they name none. */
  defaultVersions: Record<string, string>;
}

/** A worker as the server sees it. */
export interface WorkerSummary {
  /** The worker id. */
  id: string;
  /** The namespace it polls. */
  namespace: string;
  /** The workflow types (and versions) it serves. */
  workflowTypes: { type: string; versions: string[] }[];
  /** The host it runs on. */
  hostname: string;
  /** Its process id. */
  pid: number;
  /** The version of the SDK it uses. */
  sdkVersion: string;
  /** The application's version, as the worker reported it. */
  version: string;
  /** Free-form labels it registered with. */
  labels: Record<string, string>;
  /** How many runs it executes at once. */
  maxConcurrent: number;
  /** ONLINE, DRAINING while shutting down, or OFFLINE once gone. */
  status: "ONLINE" | "DRAINING" | "OFFLINE";
  /** From heartbeat age: a missed heartbeat is DEGRADED, several UNHEALTHY. */
  health: "HEALTHY" | "DEGRADED" | "UNHEALTHY" | "OFFLINE";
  /** Runs it is executing now. */
  activeCount: number;
  /** Runs it has completed. */
  completedCount: number;
  /** Runs it has failed. */
  failedCount: number;
  /** When it registered. */
  registeredAt: Date | undefined;
  /** When it last heartbeat. */
  lastHeartbeatAt: Date | undefined;
}

/** One attempt of one step of a run. */
export interface StepAttemptInfo {
  /** The run the step belongs to. */
  runId: string;
  /** A function step, a durable sleep, a signal wait or a child workflow. */
  kind: "function" | "sleep" | "signal" | "child" | "token" | "any";
  /** The step's name. */
  name: string;
  /** Which use of the name in the run (from 1). */
  occurrence: number;
  /** Which attempt this is (from 1). */
  attempt: number;
  /** Where the attempt is. */
  status: "RUNNING" | "COMPLETED" | "FAILED" | "SLEEPING" | "WAITING";
  /** The child's run id, for a child workflow step. */
  childRunId: string | undefined;
  /** The output, once COMPLETED. */
  output: unknown;
  /** The size of the stored output, in bytes. */
  outputSize: number;
  /** Why it FAILED: the error the attempt threw, with its `name`, message, `stack` and `cause`. */
  error: KagziError | undefined;
  /** The worker that ran the attempt. */
  workerId: string;
  /** When the attempt started. */
  startedAt: Date | undefined;
  /** When the attempt ended. */
  finishedAt: Date | undefined;
  /** When the next attempt is due, after a failed one. */
  retryAt: Date | undefined;
  /** When a sleep step is due to end. */
  wakeUpAt: Date | undefined;
  /** Set when `resume(id, { fromHere: true })` set the attempt aside; it is never replayed. */
  supersededAt: Date | undefined;
}
