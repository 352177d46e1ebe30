/**
 * A short sleep kept on its worker (SleepRequest.hold): once the sleeps are recorded and the run
 * stays RUNNING, the Sleep call is answered when the run is due — by the database's clock, as a
 * suspended run's wake-up is — after reading that the run is still held under the lease (not
 * cancelled, paused or reclaimed meanwhile), so the worker goes on from its sleep without a
 * suspension, a claim or a replay, and never past a cancel. A hold longer than
 * {@linkcode maxHoldMs} is a suspension instead, and so is a hold whose caller hangs up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { workTopic } from "../engine/notify.ts";
import { heldUntil, suspendRun, type Suspension } from "../store/queue.ts";
import type { ServiceContext } from "./_context.ts";

/** The longest a Sleep call is held open (a graceful shutdown waits 5 s for open calls). */
export const maxHoldMs = 5_000;

/** Whether a run asking to be held until `resumeAt` is: within {@linkcode maxHoldMs}. */
export function holdable(ctx: ServiceContext, resumeAt: Date | null): boolean {
  // A virtual clock jumps: the run sleeps on the server, where skipping time wakes it.
  return !ctx.clock.virtual && resumeAt !== null &&
    resumeAt.getTime() - ctx.clock.now() <= maxHoldMs;
}

/** How many times a hold looks again when the database's clock is behind this server's. */
const maxLooks = 5;

/**
 * Waits until the run is due by the database's clock (as a suspended run's wake-up is: never
 * before `resumeAt` as the database reads it), then whether it is still held. `due`: the
 * statement that kept the run found it due already (and held under the lease) just now. When the
 * caller hangs up first (its worker died, or the connection did), the run is suspended until then
 * as without `hold`, so any worker resumes it on time instead of after its lease expires; false.
 */
export async function heldUntilDue(
  ctx: ServiceContext,
  s: Suspension & { resumeAt: Date },
  signal: AbortSignal,
  due = false,
): Promise<boolean> {
  let left: number | undefined = due ? 0 : s.resumeAt.getTime() - ctx.clock.now();
  for (let look = 0; !due && look < maxLooks; look++) {
    try {
      if (left! > 0) await sleep(left!, undefined, { signal });
    } catch {
      const suspended = await suspendRun(ctx.db, { ...s, sleeps: [], hold: false });
      if (suspended) ctx.notifier.publishAt(workTopic(s.namespaceId), s.resumeAt);
      ctx.metrics.waitHeld(s.namespaceId, "hung_up");
      return false;
    }
    left = await heldUntil(ctx.db, s.namespaceId, s.runId, s.fence, s.resumeAt);
    if (left === undefined || left <= 0) break;
  }
  const held = left !== undefined;
  ctx.metrics.waitHeld(s.namespaceId, held ? "resumed" : "lost");
  return held;
}
