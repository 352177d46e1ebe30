/**
 * Group commit: calls are queued and written together, many per statement and
 * transaction. Up to `maxInFlight` batches are written at once, so a call does
 * not wait behind a whole commit; calls arriving while all are busy form the
 * next batch. Under load this turns many commits (each an fsync) into few;
 * alone, a call is flushed at once, so it costs no extra latency.
 */
export class Batcher<I, O> {
  #queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
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
      this.flush(batch.map((b) => b.item)).then(
        (out) => batch.forEach((b, i) => b.resolve(out[i])),
        (err) => batch.forEach((b) => b.reject(err)),
      ).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }
}
