/**
 * The scheduler fires cron schedules. Each pass locks due schedules with
 * `FOR UPDATE SKIP LOCKED`, starts one run per due fire time (workflow id
 * `<schedule>@<fire time>`) and advances `next_fire_at` in the same
 * transaction, so each fire time starts exactly one run even with several
 * servers and across restarts. Fire times older than `graceMs` count as missed:
 * at most `max_catchup` of the most recent are started, oldest first. A fire whose run the type's
 * flow control refuses (the schedule's input lacks a key its limits need) starts nothing: it is
 * logged as an ERROR naming the schedule, the type and the key, `last_fired_at` stays as it was,
 * and the schedule moves on to its next fire time.
 */
import { InvalidArgumentError } from "../errors.ts";
import { storedFlow } from "../services/_flow_keys.ts";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics.ts";
import type { Db, Queryable } from "../store/db.ts";
import * as starts from "../store/run_starts.ts";
import * as schedules from "../store/schedules.ts";
import { dueTimes, parseCron } from "./cron.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type Notifier, workTopic } from "./notify.ts";

/** Topic that wakes the scheduler when a schedule changes. */
export const schedulesTopic = "schedules";

/** Options of {@linkcode startScheduler}. */
export interface SchedulerOptions {
  /** A fire time later than this by less counts as on time, not missed. */
  graceMs: number;
  /** The longest the scheduler sleeps between passes. */
  maxIdleMs: number;
  /** Told about the runs the scheduler starts. */
  metrics?: ServerMetrics;
  /** When schedules are due. @default the system clock */
  clock?: Clock;
}

/** A running scheduler. */
export interface Scheduler {
  /** Fires what is due now and resolves once it is started (the loop also does, by itself). */
  passNow(): Promise<void>;
  /** Stops the loop and waits for a pass in progress. */
  stop(): Promise<void>;
}

/** Starts the scheduler loop. */
export function startScheduler(
  db: Db,
  notifier: Notifier,
  log: Logger,
  options: SchedulerOptions,
): Scheduler {
  const abort = new AbortController();
  const clock = options.clock ?? systemClock;
  const pass = async (): Promise<boolean> => {
    const report: FireReport = { started: [], refused: [] };
    const fired = await firePass(db, options.graceMs, report, () => clock.now());
    for (const ns of fired) notifier.publish(workTopic(ns));
    for (const r of report.started) options.metrics?.runStarted(r.namespace, r.type);
    logRefusedFires(log, report);
    return fired.size > 0;
  };
  const loop = async () => {
    while (!abort.signal.aborted) {
      try {
        if (await pass()) continue;
        const next = await schedules.nextScheduleFire(db);
        const wait = next
          ? Math.min(Math.max(0, next.getTime() - clock.now()), options.maxIdleMs)
          : options.maxIdleMs;
        await notifier.wait(schedulesTopic, wait, abort.signal);
      } catch (err) {
        if (abort.signal.aborted) return;
        log.warn("scheduler pass failed", err);
        await notifier.wait(schedulesTopic, options.maxIdleMs, abort.signal);
      }
    }
  };
  const running = loop();
  return {
    passNow: async () => {
      await pass();
    },
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

/** What a pass of {@linkcode firePass} started, and the fires it refused. */
export interface FireReport {
  /** One per run started. */
  started: { namespace: string; type: string }[];
  /** Fires that started nothing: the run's flow control refused the schedule's input. */
  refused: { namespace: string; scheduleId: string; at: Date; error: InvalidArgumentError }[];
}

/** Logs each refused fire of `report` as an ERROR (its message names schedule, type and key). */
export function logRefusedFires(log: Logger, report: FireReport): void {
  for (const r of report.refused) {
    log.error(
      `schedule "${r.scheduleId}" in namespace "${r.namespace}" did not fire at ` +
        `${r.at.toISOString()}: ${r.error.message}`,
    );
  }
}

/**
 * Fires what is due; returns the namespaces that got new runs. `report` collects the runs
 * started and the fires refused (read it once the pass has committed).
 */
export async function firePass(
  db: Db,
  graceMs: number,
  report: FireReport,
  /** Read inside the transaction, once it holds its connection (not while it waits for one). */
  nowMs: () => number = Date.now,
): Promise<Set<string>> {
  return await db.transaction(async (tx) => {
    const namespaces = new Set<string>();
    const now = new Date(nowMs());
    for (const s of await schedules.lockDueSchedules(tx, 100)) {
      let next: Date | undefined;
      let fire: Date[] = [];
      try {
        const cron = parseCron(s.cron, s.timezone);
        const all = dueTimes(cron, s.next_fire_at!, now, 100_000);
        const onTime = all.due.filter((t) => now.getTime() - t.getTime() <= graceMs);
        const missed = all.due.filter((t) => now.getTime() - t.getTime() > graceMs);
        fire = [...(s.max_catchup > 0 ? missed.slice(-s.max_catchup) : []), ...onTime];
        next = all.next;
      } catch {
        // An expression that no longer parses (e.g. a time zone removed from the system): stop.
        next = undefined;
      }
      let lastFired: Date | null = null;
      for (const at of fire) {
        const run = scheduledRun(s, crypto.randomUUID(), `${s.schedule_id}@${at.toISOString()}`);
        try {
          run.flow = await scheduledFlow(tx, "fire", s, run);
        } catch (err) {
          if (!(err instanceof InvalidArgumentError)) throw err;
          report.refused.push({
            namespace: s.namespace_id,
            scheduleId: s.schedule_id,
            at,
            error: err,
          });
          continue;
        }
        lastFired = at;
        const inserted = await starts.insertRun(tx, run);
        if (inserted) report.started.push({ namespace: s.namespace_id, type: s.workflow_type });
      }
      await schedules.advanceSchedule(tx, s.namespace_id, s.schedule_id, next ?? null, lastFired);
      if (lastFired) namespaces.add(s.namespace_id);
    }
    return namespaces;
  });
}

/**
 * The flow control of a schedule's run (`verb`: "fire", "trigger"), evaluated from the schedule's
 * input by its type's stored flow control; INVALID_ARGUMENT naming the schedule, the type and the
 * key when the input cannot give a key the limits need.
 */
export async function scheduledFlow(
  db: Queryable,
  verb: string,
  s: schedules.ScheduleRow,
  run: starts.NewRun,
): Promise<starts.StartFlow | undefined> {
  const op = `${verb} schedule ${JSON.stringify(s.schedule_id)} of workflow type ` +
    JSON.stringify(s.workflow_type);
  return await storedFlow(db, op, s.namespace_id, s.workflow_type, s.version, run.input);
}

/**
 * The run a schedule starts (a cron fire, or a manual trigger): its workflow type, version and
 * input, no deadline, retry policy or context, under the given ids.
 */
export function scheduledRun(
  s: schedules.ScheduleRow,
  runId: string,
  workflowId: string,
): starts.NewRun {
  return {
    namespaceId: s.namespace_id,
    runId,
    workflowId,
    workflowType: s.workflow_type,
    version: s.version,
    deadlineAt: null,
    retryPolicy: null,
    input: { data: s.input ?? new Uint8Array(), metadata: s.input_metadata ?? {} },
    context: null,
    scheduleId: s.schedule_id,
  };
}
