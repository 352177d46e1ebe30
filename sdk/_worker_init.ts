/**
 * What a worker is built from and what it counts: the settings `WorkerBuilder.build()` hands
 * the loop (`_worker_loop.ts`), the stats it keeps, and the handler for a type it lacks.
 */
import type { Client } from "@connectrpc/connect";
import type { FlowControl, StreamService, Task, WorkerService } from "@kagzi/proto";
import type { EventTrigger } from "./workflow_def.ts";
import type { WorkflowFn } from "./context.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Carries } from "./_rpc.ts";

/** What `WorkerBuilder.build()` hands the worker: its client, identity and settings. */
export interface WorkerInit {
  client: Client<typeof WorkerService>;
  /** The client of the runs' stream writes (`ctx.stream`). */
  streams: Client<typeof StreamService>;
  register: () => Promise<{ workerId: string } & Carries>;
  namespace: string;
  workerId: string;
  /** The step outputs the server stores with a completion or a sleep (RegisterResponse). */
  carries: Carries;
  heartbeatMs: number;
  leaseMs: number;
  /** How long the server holds a poll; a poll unanswered well past it is abandoned. */
  pollTimeoutMs: number;
  maxConcurrent: number;
  shutdownTimeoutMs: number;
  handlers: Map<string, WorkflowFn>;
  /** The clock durable sleeps and signal timeouts are timed by: the server's when in process. */
  now: () => number;
  /** Sleeps ending this soon (ms) keep their run on the worker (0: every sleep suspends). */
  holdSleepsMs: number;
  /** Where the worker's events go. */
  log: Logger;
  /** The server's address, as logged. */
  address: string;
}

/** The longest sleep a worker may keep its run through: the server holds one no longer. */
const maxHoldSleepsMs = 5_000;

/** `holdSleeps(d)` in ms; more than the server's 5 s is INVALID_ARGUMENT naming holdSleeps. */
export function checkHoldSleeps(d: Duration): number {
  const ms = parseDuration(d, "holdSleeps");
  if (ms <= maxHoldSleepsMs) return ms;
  throw new KagziError(
    "INVALID_ARGUMENT",
    `Invalid holdSleeps ${JSON.stringify(d)}: at most 5s (the server holds a sleep no longer); ` +
      `0 suspends every sleep`,
    { subject: "holdSleeps", nonRetryable: true },
  );
}

/** A workflow function registered with the builder, for one version of its type. */
export interface Registration {
  type: string;
  version: string;
  fn: WorkflowFn;
  flowControl?: FlowControl;
  triggers: readonly EventTrigger[];
}

/**
 * The registrations as Register sends them: one per type and flow control (versions of a type
 * may differ in it), with its versions; and the events that trigger each type.
 */
export function groupRegistrations(registrations: readonly Registration[]): {
  types: Map<string, { type: string; versions: string[]; fc?: FlowControl }>;
  triggers: Map<string, Set<string>>;
} {
  const types = new Map<string, { type: string; versions: string[]; fc?: FlowControl }>();
  const triggers = new Map<string, Set<string>>();
  for (const r of registrations) {
    const fc = r.flowControl &&
      JSON.stringify(r.flowControl, (_, v) => typeof v === "bigint" ? String(v) : v);
    const key = `${r.type}\u0000${fc ?? ""}`;
    const t = types.get(key) ?? { type: r.type, versions: [], fc: r.flowControl };
    t.versions.push(r.version);
    types.set(key, t);
    const events = triggers.get(r.type) ?? new Set();
    for (const t of r.triggers) events.add(t.event);
    triggers.set(r.type, events);
  }
  return { types, triggers };
}

/** Counts of what a worker did, for observability and tests. */
export interface WorkerStats {
  /** Executions that completed their run. */
  completed: number;
  /** Executions that failed their run. */
  failed: number;
  /** Executions that ended suspended (a durable sleep or a scheduled retry). */
  suspended: number;
  /** Executions that parked their run: the code no longer matched its history. */
  parked: number;
  /** Executions that ended without reporting an outcome (released, or the server unreachable). */
  abandoned: number;
  /** RPCs made about runs, by method, plus polls and heartbeats. */
  rpcs: Record<string, number>;
}

/** The handler of a run whose type and version this worker has none for: it fails the run. */
export function missingHandler(task: Task): WorkflowFn {
  return () =>
    Promise.reject(
      new KagziError(
        "NOT_FOUND",
        `No handler for workflow "${task.workflowType}" version "${task.version}" on this worker`,
        {
          nonRetryable: true,
        },
      ),
    );
}

/** Milliseconds of a protobuf Duration, or undefined when it is not set. */
export const protoMs = (d: { seconds: bigint; nanos: number } | undefined) =>
  d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : undefined;
