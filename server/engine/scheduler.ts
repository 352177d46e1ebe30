/**
 * The scheduler fires cron schedules. Each pass locks due schedules with
 * `FOR UPDATE SKIP LOCKED`, starts one run per due fire time (workflow id
 * `<schedule>@<fire time>`) and advances `next_fire_at` in the same
 * transaction, so each fire time starts exactly one run even with several
 * servers and across restarts. Fire times older than `graceMs` count as missed:
 * at most `max_catchup` of the most recent are started, oldest first.
 */
import { storedFlow } from "../services/_flow_keys.ts";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics.ts";
import type { Db } from "../store/db.ts";
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
    const started: { namespace: string; type: string }[] = [];
    const fired = await firePass(db, options.graceMs, started, () => clock.now());
    for (const ns of fired) notifier.publish(workTopic(ns));
    for (const r of started) options.metrics?.runStarted(r.namespace, r.type);
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

/** Fires what is due; returns the namespaces that got new runs. */
export async function firePass(
  db: Db,
  graceMs: number,
  started: { namespace: string; type: string }[],
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
      for (const at of fire) {
        const run = scheduledRun(s, crypto.randomUUID(), `${s.schedule_id}@${at.toISOString()}`);
        run.flow = await storedFlow(tx, s.namespace_id, s.workflow_type, s.version, run.input);
        const inserted = await starts.insertRun(tx, run);
        if (inserted) started.push({ namespace: s.namespace_id, type: s.workflow_type });
      }
      await schedules.advanceSchedule(
        tx,
        s.namespace_id,
        s.schedule_id,
        next ?? null,
        fire.at(-1) ?? null,
      );
      if (fire.length) namespaces.add(s.namespace_id);
    }
    return namespaces;
  });
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
