/**
 * Reading a run's streams: follow one live from an offset (ReadStream, Connect server
 * streaming, resumed from the next offset when the connection or the server goes away), its
 * last value, and the streams a run has.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { retryDelay, sleep } from "../_backoff.ts";
import { decodeJson } from "../_payload.ts";
import { KagziError } from "../errors.ts";
import { rpc, type Services } from "./_services.ts";

/** One value of a stream: its offset (0, 1, 2 … in the order the run wrote them) and value. */
export interface StreamValue<T = unknown> {
  /** Its place in the stream, from 0. */
  offset: number;
  /** The value the run wrote. */
  value: T;
}

/** Options of `handle.stream()`. */
export interface StreamReadOptions {
  /** The first offset to read; values before it are skipped. @default 0 */
  from?: number;
  /** Stops following (the iteration ends) when aborted. */
  signal?: AbortSignal;
}

/** A stream of a run, as `handle.streams()` lists it. */
export interface StreamInfo {
  /** The stream's name (`ctx.stream(name)`). */
  name: string;
  /** How many values were written. */
  count: number;
  /** Closed by the run, or the run ended: nothing more will be written. */
  closed: boolean;
  /** When its last value (or its close) was written. */
  lastWrittenAt: Date | undefined;
}

/**
 * The values of stream `name` of a run from `options.from` on, live: the iteration ends when
 * the stream is closed or its run ended and every value was read. A dropped connection or a
 * server restart is waited out (UNAVAILABLE, retried within the client's `retryTimeout` per
 * outage) and the read goes on from the next offset, so no value is missed or repeated.
 */
export async function* followStream<T>(
  services: Services,
  namespace: string,
  runId: string,
  name: string,
  options: StreamReadOptions = {},
): AsyncGenerator<StreamValue<T>> {
  const from = options.from ?? 0;
  if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0) {
    const given = typeof from === "string" ? JSON.stringify(from) : String(from);
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Cannot read stream "${name}": "from" must be a whole number from 0 to ` +
        `${Number.MAX_SAFE_INTEGER} (an offset), not ${given}`,
      {
        subject: "from",
        nonRetryable: true,
      },
    );
  }
  let next = from;
  let failures = 0;
  let outageUntil = 0;
  for (;;) {
    if (options.signal?.aborted) return;
    try {
      const call = services.streams.readStream(
        { namespace, runId, name, from: BigInt(next) },
        { signal: options.signal },
      );
      for await (const msg of call) {
        failures = 0;
        outageUntil = 0;
        for (const e of msg.entries) {
          const offset = Number(e.offset);
          if (offset < next) continue;
          next = offset + 1;
          yield { offset, value: decodeJson(e.value, `value ${offset} of stream "${name}"`) as T };
        }
        if (msg.end) return;
      }
      // Ended without its last message (a server going away): read on from the next offset.
    } catch (err) {
      if (options.signal?.aborted) return;
      const e = KagziError.from(err);
      if (e.code !== "UNAVAILABLE") throw e;
      const now = Date.now();
      if (outageUntil === 0) outageUntil = now + Math.max(services.retryTimeoutMs, 1_000);
      if (now >= outageUntil) throw e;
      await sleep(retryDelay(failures++, e), options.signal).catch(() => {});
    }
  }
}

/** The last value written to stream `name` of a run; undefined when none was written. */
export async function latestValue<T>(
  services: Services,
  namespace: string,
  runId: string,
  name: string,
): Promise<T | undefined> {
  const res = await rpc(() => services.streams.latestStream({ namespace, runId, name }));
  if (!res.entry) return undefined;
  return decodeJson(res.entry.value, `value ${res.entry.offset} of stream "${name}"`) as T;
}

/** The streams of a run, by name. */
export async function listStreams(
  services: Services,
  namespace: string,
  runId: string,
): Promise<StreamInfo[]> {
  const res = await rpc(() => services.streams.listStreams({ namespace, runId }));
  return res.streams.map((s) => ({
    name: s.name,
    count: Number(s.count),
    closed: s.closed,
    lastWrittenAt: s.lastWrittenAt && timestampDate(s.lastWrittenAt),
  }));
}
