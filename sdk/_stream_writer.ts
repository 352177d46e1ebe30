/**
 * `ctx.stream(name)`: the writer of one stream of the run. A write's offset is its place among
 * the run's writes to that stream, so a replay gives it the offset it had: writes the server
 * already stored (the task's stream cursors say how many) resolve at once with no call, and a
 * write sent twice is stored once. Writes go out in order, one AppendStream in flight per
 * stream, the ones made meanwhile together in the next.
 */
import type { Payload } from "@kagzi/proto";
import type { Stream } from "./context.ts";
import { KagziError } from "./errors.ts";
import { encodeJson } from "./_payload.ts";
import type { WorkerRpc } from "./_rpc.ts";
import { permanentRefusal } from "./_step_attempt.ts";

/** The largest stream value, in bytes of JSON (the server's payload limit). */
export const maxStreamValueBytes = 4 * 1024 * 1024;
/** At most this many values, and about this many bytes, go in one AppendStream. */
const batchValues = 1000;
const batchBytes = 2 * 1024 * 1024;

/** What a stream writer needs of the execution that runs it. */
export interface StreamHost {
  /** The execution was released or is stopping: send nothing new. */
  gone(): boolean;
  track<T>(p: Promise<T>): Promise<T>;
  report<R>(send: () => Promise<R | undefined>): Promise<R | undefined>;
  readonly rpc: WorkerRpc;
  readonly lease: { runId: string; fence: bigint };
  readonly never: Promise<never>;
  /** How far the server stored the stream before this execution (a resumed run). */
  streamCursor(name: string): { nextOffset: number; closed: boolean } | undefined;
}

interface Pending {
  offset: number;
  /** Undefined for the close. */
  value?: Payload;
  done: (err?: unknown) => void;
}

/** The state of one stream in one execution, shared by every `ctx.stream(name)` of it. */
export class StreamWriter<T> implements Stream<T> {
  /** Offset of the next write of this execution. */
  #next = 0;
  #closed = false;
  /** Values below this offset were stored before this execution. */
  readonly #stored: number;
  readonly #storedClosed: boolean;
  #queue: Pending[] = [];
  #sending = false;
  /** Set when the server refused a write for good: later writes fail the same way. */
  #broken: unknown;

  constructor(private readonly host: StreamHost, readonly name: string) {
    const cursor = host.streamCursor(name);
    this.#stored = cursor?.nextOffset ?? 0;
    this.#storedClosed = cursor?.closed ?? false;
  }

  write = (value: T): Promise<void> => {
    const what = `value of stream "${this.name}"`;
    if (this.host.gone()) return this.host.never;
    if (this.#closed) {
      return Promise.reject(
        new KagziError("PRECONDITION_FAILED", `Cannot write to stream "${this.name}": closed`, {
          subject: "stream",
          subjectId: this.name,
          nonRetryable: true,
        }),
      );
    }
    let payload: Payload;
    try {
      if (value === undefined) {
        throw new KagziError("INVALID_ARGUMENT", `The ${what} is undefined; use null`, {
          subject: "value",
          nonRetryable: true,
        });
      }
      payload = encodeJson(value, what);
      if (payload.data.byteLength > maxStreamValueBytes) {
        throw new KagziError(
          "INVALID_ARGUMENT",
          `The ${what} is ${payload.data.byteLength} bytes of JSON; the limit is ` +
            `${maxStreamValueBytes}`,
          { subject: "value", nonRetryable: true },
        );
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const offset = this.#next++;
    if (offset < this.#stored) return Promise.resolve();
    return this.#enqueue(offset, payload);
  };

  close = (): Promise<void> => {
    if (this.host.gone()) return this.host.never;
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#storedClosed && this.#next <= this.#stored) return Promise.resolve();
    return this.#enqueue(this.#next, undefined);
  };

  #enqueue(offset: number, value: Payload | undefined): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    const p = new Promise<void>((resolve, reject) => {
      this.#queue.push({ offset, value, done: (err) => (err ? reject(err) : resolve()) });
    });
    if (!this.#sending) void this.host.track(this.#drain());
    return p.then(undefined, (err) => (err === gone ? this.host.never : Promise.reject(err)));
  }

  /** Sends what is queued, a batch at a time, until the queue is empty. */
  async #drain(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#queue.length) {
        const batch = this.#take();
        const first = batch[0].offset;
        const values = batch.filter((p) => p.value).map((p) => p.value!);
        const close = batch.at(-1)!.value === undefined;
        let refused: unknown;
        const res = await this.host.report(() =>
          this.host.rpc.appendStream({
            lease: this.host.lease,
            name: this.name,
            offset: BigInt(first),
            values,
            close,
          })
            .catch((err) => {
              if (!permanentRefusal(err) && KagziError.from(err).code !== "PRECONDITION_FAILED") {
                throw err;
              }
              refused = KagziError.from(err);
              return { refused: true } as const;
            })
        );
        if (refused) this.#broken = refused;
        const err = refused ?? (res ? undefined : gone);
        for (const p of batch) p.done(err);
        if (err) {
          for (const p of this.#queue.splice(0)) p.done(err);
        }
      }
    } finally {
      this.#sending = false;
    }
  }

  /** The next batch: consecutive values (and the close, last), within the batch limits. */
  #take(): Pending[] {
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length && n < batchValues) {
      const size = this.#queue[n].value?.data.byteLength ?? 0;
      if (n > 0 && bytes + size > batchBytes) break;
      bytes += size;
      n++;
    }
    return this.#queue.splice(0, n);
  }
}

/** The rejection of writes whose execution was released: they never settle for the caller. */
const gone = Symbol("gone");
