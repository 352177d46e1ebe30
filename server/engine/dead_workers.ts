/**
 * Dead workers are noticed sooner than their leases: a worker whose poll connection closed
 * (its process died: the operating system closed its sockets) and that then stays silent for
 * 1.5 heartbeat intervals has its runs released at once, so another worker takes them within
 * about two heartbeat intervals of a kill -9 instead of a whole lease. A worker that is only
 * cut off (no close seen) or frozen (its connection stays open) keeps its lease, and a release
 * is fenced as ever: the next claim bumps the fence, so a late write of the old worker is
 * refused.
 */
import type { Logger } from "../log.ts";
import type { Db } from "../store/db.ts";
import * as workers from "../store/workers.ts";
import { type Notifier, workTopic } from "./notify.ts";

/** Heartbeat intervals of silence after a closed poll that make a worker dead. */
export const deadAfterBeats = 1.5;

/** Workers whose poll connection closed, checked for silence every fifth of an interval. */
export class DeadWorkers {
  /** `namespace\tworker id` → when its poll was cut off. */
  readonly #closed = new Map<string, number>();
  #timer?: ReturnType<typeof setInterval>;
  #running = false;

  constructor(
    private readonly db: Db,
    private readonly notifier: Notifier,
    private readonly log: Logger,
    private readonly heartbeatIntervalMs: number,
    /** How long a run's lease lasts: after that the ticker recovers it anyway. */
    private readonly leaseMs: number,
  ) {}

  /** A poll of the worker began: it is alive. */
  pollOpened(namespaceId: string, workerId: string): void {
    this.#closed.delete(`${namespaceId}\t${workerId}`);
  }

  /** A poll of the worker ended because its caller hung up. */
  pollCutOff(namespaceId: string, workerId: string): void {
    if (this.#closed.size > 100_000) this.#closed.clear();
    this.#closed.set(`${namespaceId}\t${workerId}`, Date.now());
    this.#timer ??= setInterval(
      () => void this.#sweep(),
      Math.max(50, this.heartbeatIntervalMs / 5),
    );
  }

  async #sweep(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const silentMs = Math.round(this.heartbeatIntervalMs * deadAfterBeats);
      for (const [key, at] of [...this.#closed]) {
        if (Date.now() - at > this.leaseMs) {
          this.#closed.delete(key);
          continue;
        }
        const [namespaceId, workerId] = key.split("\t");
        const released = await workers.releaseSilentWorkerRuns(
          this.db,
          namespaceId,
          workerId,
          silentMs,
        );
        if (released === undefined) continue;
        this.#closed.delete(key);
        if (released > 0) {
          this.log.info(`worker ${workerId} is gone: released its ${released} run(s)`);
          this.notifier.publish(workTopic(namespaceId));
        }
      }
    } catch (err) {
      this.log.warn("releasing the runs of dead workers failed", err);
    } finally {
      this.#running = false;
      if (this.#closed.size === 0) this.close();
    }
  }

  /** Stops checking. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
