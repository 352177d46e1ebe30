/**
 * A micro-batcher: calls made close together are handed to one `flush` as a batch, and each
 * call gets its own result. The SDK's worker sends the step and workflow completions of all
 * its runs in one Report with it; the server writes concurrent calls in one statement and
 * transaction with it (group commit). Both are the same queue.
 *
 * @example
 * ```ts
 * import { MicroBatcher } from "@kagzi/sdk/batcher";
 *
 * const squares = new MicroBatcher((xs: number[]) => Promise.resolve(xs.map((x) => x * x)));
 * console.log(await Promise.all([squares.add(2), squares.add(3)])); // [4, 9], one flush
 * ```
 *
 * @module
 */

/** Stands in `flush`'s answer for an item that failed by itself; that item's call rejects. */
export class ItemError {
  /** Wraps the reason the item's call rejects with. */
  constructor(readonly error: unknown) {}
}

/** Options of a {@linkcode MicroBatcher}. */
export interface MicroBatcherOptions {
  /** Most items in one batch. @default 256 */
  maxBatch?: number;
  /** Batches being flushed at once; calls arriving while all are busy form the next. @default 1 */
  maxInFlight?: number;
  /**
   * When a batch of several items fails, flush each item again alone, in order, so one bad
   * item fails only its own call; else every call of the batch rejects with the failure.
   * @default true
   */
  splitFailedBatch?: boolean;
  /**
   * Called when a batch of `size` items failed as a whole and is being written again item by
   * item (`splitFailedBatch`), with the batch's failure: each split costs a statement per item,
   * so a caller can count and report them.
   */
  onSplit?: (error: unknown, size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * Queues calls and flushes them together. Calls made in the same tick join one batch; up to
 * `maxInFlight` batches are flushed at once, so a call does not wait behind a whole flush.
 * Under load many round trips (or commits, each an fsync) become few; alone, a call is
 * flushed at once, so it costs no extra latency.
 */
export class MicroBatcher<I, O> {
  readonly #flush: (items: I[]) => Promise<(O | ItemError)[]>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #split: boolean;
  readonly #onSplit?: (error: unknown, size: number) => void;
  #queue: Pending<I, O>[] = [];
  #inFlight = 0;
  #scheduled = false;

  /**
   * Creates a batcher around `flush`, which answers a batch with one result per item, in
   * order (an {@linkcode ItemError} for an item that failed alone), or throws when the
   * whole batch failed.
   */
  constructor(
    flush: (items: I[]) => Promise<(O | ItemError)[]>,
    options: MicroBatcherOptions = {},
  ) {
    this.#flush = flush;
    this.#maxBatch = options.maxBatch ?? 256;
    this.#maxInFlight = options.maxInFlight ?? 1;
    this.#split = options.splitFailedBatch ?? true;
    this.#onSplit = options.onSplit;
  }

  /** Queues `item`; resolves with its own result when its batch is flushed. */
  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#scheduled) {
        // Let calls made in the same tick join the same batch.
        this.#scheduled = true;
        queueMicrotask(() => {
          this.#scheduled = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      this.#write(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #write(batch: Pending<I, O>[]): Promise<void> {
    try {
      const out = await this.#flush(batch.map((b) => b.item));
      batch.forEach((b, i) => settle(b, out[i]));
      return;
    } catch (err) {
      if (batch.length === 1 || !this.#split) {
        for (const b of batch) b.reject(err);
        return;
      }
      try {
        this.#onSplit?.(err, batch.length);
      } catch { /* a report must not lose the batch's items */ }
    }
    // Settle each item alone, so only the items that fail by themselves are refused.
    for (const b of batch) {
      try {
        settle(b, (await this.#flush([b.item]))[0]);
      } catch (err) {
        b.reject(err);
      }
    }
  }
}

function settle<I, O>(b: Pending<I, O>, result: O | ItemError): void {
  if (result instanceof ItemError) b.reject(result.error);
  else b.resolve(result);
}
