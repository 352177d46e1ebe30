/**
 * A short sleep kept on its worker (SleepRequest.hold): once the sleeps are recorded and the run
 * stays RUNNING, the Sleep call is answered when the run is due — by this server's clock, after
 * reading that the run is still held under the lease (not cancelled, paused or reclaimed
 * meanwhile), so the worker goes on from its sleep without a suspension, a claim or a replay,
 * and never past a cancel. A hold longer than {@linkcode maxHoldMs} is a suspension instead, and
 * so is a hold whose caller hangs up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { workTopic } from "../engine/notify.ts";
import { stillHeld, suspendRun, type Suspension } from "../store/queue.ts";
import type { ServiceContext } from "./_context.ts";

/** The longest a Sleep call is held open (a graceful shutdown waits 5 s for open calls). */
export const maxHoldMs = 5_000;

/** Whether a run asking to be held until `resumeAt` is: within {@linkcode maxHoldMs}. */
export function holdable(ctx: ServiceContext, resumeAt: Date | null): boolean {
  // A virtual clock jumps: the run sleeps on the server, where skipping time wakes it.
  return !ctx.clock.virtual && resumeAt !== null &&
    resumeAt.getTime() - ctx.clock.now() <= maxHoldMs;
}

/**
 * Waits until the run is due, then whether it is still held (read again unless it was due when
 * the hold was stored). When the caller hangs up first (its worker died, or the connection did),
 * the run is suspended until then as without `hold`, so any worker resumes it on time instead of
 * after its lease expires; false then.
 */
export async function heldUntilDue(
  ctx: ServiceContext,
  s: Suspension & { resumeAt: Date },
  signal: AbortSignal,
  unchecked = false,
): Promise<boolean> {
  const ms = s.resumeAt.getTime() - ctx.clock.now();
  let held = true;
  // Due already: the statement that kept the run found it held under the lease just now (unless
  // nothing was stored: `unchecked`).
  if (ms > 0 || unchecked) {
    try {
      if (ms > 0) await sleep(ms, undefined, { signal });
    } catch {
      const suspended = await suspendRun(ctx.db, { ...s, sleeps: [], hold: false });
      if (suspended) ctx.notifier.publishAt(workTopic(s.namespaceId), s.resumeAt);
      ctx.metrics.waitHeld(s.namespaceId, "hung_up");
      return false;
    }
    held = await stillHeld(ctx.db, s.namespaceId, s.runId, s.fence);
  }
  ctx.metrics.waitHeld(s.namespaceId, held ? "resumed" : "lost");
  return held;
}
