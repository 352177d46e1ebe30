/**
 * Group commit of concurrent calls into one statement per batch: the SDK's micro-batcher
 * (`@kagzi/sdk/batcher`, the same queue the worker's Report batching uses). Its defaults are
 * the server's: 256 items a batch, one batch written at a time, and a failed batch of several
 * calls written again item by item, so one bad item fails only its own call.
 *
 * {@linkcode groupCommit} makes such a batcher that reports every such split: it is counted
 * (`kagzi_batch_splits_total{batch}`) and logged as a warning at most once a minute per batcher,
 * so a batch statement that keeps failing — which silently turns group commit into one statement
 * per call — shows up instead of only as lost throughput.
 */
import { type ItemError, MicroBatcher } from "@kagzi/sdk/batcher";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics.ts";

export { MicroBatcher as Batcher };

/** A batcher named `name` whose splits are counted in `metrics` and warned about in `log`. */
export function groupCommit<I, O>(
  report: { log: Logger; metrics: ServerMetrics },
  name: string,
  flush: (items: I[]) => Promise<(O | ItemError)[]>,
  warnEveryMs = 60_000,
): MicroBatcher<I, O> {
  let lastWarned = -Infinity;
  let unwarned = 0;
  return new MicroBatcher(flush, {
    onSplit(error, size) {
      report.metrics.batchSplit(name);
      unwarned++;
      const now = performance.now();
      if (now - lastWarned < warnEveryMs) return;
      lastWarned = now;
      report.log.warn(
        `group commit "${name}": a batch of ${size} failed and is written item by item ` +
          `(${unwarned} such batch(es) since the last warning)`,
        error,
      );
      unwarned = 0;
    },
  });
}
