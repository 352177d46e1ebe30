/** Group commit of concurrent calls into one statement per batch. */

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: calls are queued and written together, many per statement and
 * transaction. Up to `maxInFlight` batches are written at once, so a call does
 * not wait behind a whole commit; calls arriving while all are busy form the
 * next batch. Under load this turns many commits (each an fsync) into few;
 * alone, a call is flushed at once, so it costs no extra latency.
 *
 * A batch never fails a call for another call's fault: when a batch of several
 * calls fails, each call is written again alone, in order, and gets its own
 * answer (the cost of one bad item is one statement per item of its batch).
 */
export class Batcher<I, O> {
  #queue: Pending<I, O>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly maxBatch = 256,
    private readonly maxInFlight = 1,
  ) {}

  /** Queues `item`; resolves with its own result when its batch is written. */
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
    while (this.#inFlight < this.maxInFlight && this.#queue.length) {
      const batch = this.#queue.splice(0, this.maxBatch);
      this.#inFlight++;
      this.#write(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #write(batch: Pending<I, O>[]): Promise<void> {
    try {
      const out = await this.flush(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(out[i]));
      return;
    } catch (err) {
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
    }
    // Settle each item alone, so only the items that fail by themselves are refused.
    for (const b of batch) {
      try {
        b.resolve((await this.flush([b.item]))[0]);
      } catch (err) {
        b.reject(err);
      }
    }
  }
}
