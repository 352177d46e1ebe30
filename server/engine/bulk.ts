/**
 * The bulk worker: every server looks for a RUNNING bulk operation whose lease is free or
 * expired, takes it (a fence, as runs have) and works it in batches until it ends, the lease is
 * lost or the server stops. After each batch it rests at least as long as the batch took, so a
 * bulk operation uses at most about half of one database connection's time and live traffic
 * keeps the rest. A server that dies leaves its job to another once the lease expires; the job
 * goes on from the cursor of its last committed batch.
 */
import type { Logger } from "../log.ts";
import type { Db } from "../store/db.ts";
import * as bulk from "../store/bulk.ts";
import { doneTopic, type Notifier, workTopic } from "./notify.ts";

/** Options of {@linkcode startBulkWorker}. */
export interface BulkWorkerOptions {
  /** How often to look for a job to take. */
  intervalMs: number;
  /** How long a taken job stays this server's without a batch. */
  leaseMs: number;
  /** Runs per batch. @default 200 */
  batchSize?: number;
  /** The least rest between two batches. @default 20 */
  minPauseMs?: number;
}

/** A running bulk worker. */
export interface BulkWorker {
  /** Looks for a job now (a new one was just started here). */
  poke(): void;
  /** Stops after the batch in progress. */
  stop(): Promise<void>;
}

/** Starts the bulk worker of this server. */
export function startBulkWorker(
  db: Db,
  notifier: Notifier,
  log: Logger,
  options: BulkWorkerOptions,
): BulkWorker {
  const owner = crypto.randomUUID();
  const size = options.batchSize ?? 200;
  const minPause = options.minPauseMs ?? 20;
  let stopped = false;
  let working: Promise<void> | undefined;
  let rest: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => (rest = undefined, resolve()), ms);
      rest = () => (clearTimeout(t), rest = undefined, resolve());
    });

  const work = async (job: bulk.BulkRow) => {
    const cancelError = {
      code: "ERROR_CODE_CANCELLED",
      message: job.reason ? `Cancelled: ${job.reason}` : "Cancelled",
      nonRetryable: true,
      name: "CancelledError",
      subject: "run",
    };
    while (!stopped) {
      const began = performance.now();
      const out = await bulk.runBatch(
        db,
        job.namespace_id,
        job.operation_id,
        job.fence,
        size,
        options.leaseMs,
        cancelError,
      );
      if (!out.held) return;
      if (out.acted.length && job.action !== "CANCEL" && job.action !== "PAUSE") {
        notifier.publish(workTopic(job.namespace_id));
      }
      if (job.action === "CANCEL") {
        for (const r of out.acted) notifier.publish(doneTopic(r.namespace_id, r.run_id));
      }
      if (out.finished) {
        log.info(`bulk ${job.action.toLowerCase()} ${job.operation_id} finished`);
        return;
      }
      await sleep(Math.max(minPause, performance.now() - began));
    }
  };

  const pass = async () => {
    for (let job = await bulk.claimOperation(db, owner, options.leaseMs); job && !stopped;) {
      await work(job);
      job = stopped ? undefined : await bulk.claimOperation(db, owner, options.leaseMs);
    }
  };
  const run = () => {
    if (stopped || working) return;
    working = pass()
      .catch((err) => log.warn("bulk operation failed", err))
      .finally(() => (working = undefined));
  };
  const timer = setInterval(run, options.intervalMs);
  return {
    poke: run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      rest?.();
      await working;
    },
  };
}
