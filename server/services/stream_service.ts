/**
 * StreamService: a held run's writes to its streams (AppendStream, lease-checked, each value
 * stored once per offset), and reading them: live from an offset (ReadStream, server
 * streaming), the last value (LatestStream) and a run's streams (ListStreams).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AppendStreamResponseSchema,
  LatestStreamResponseSchema,
  ListStreamsResponseSchema,
  type ReadStreamResponse,
  ReadStreamResponseSchema,
  type StreamEntry,
  StreamEntrySchema,
  StreamInfoSchema,
  type StreamService,
} from "@kagzi/proto";
import { streamTopic } from "../engine/notify.ts";
import { InvalidArgumentError, PreconditionError, toConnectError } from "../errors.ts";
import * as streams from "../store/streams.ts";
import type { ServiceContext } from "./_context.ts";
import { payloadOf, ts } from "./_convert.ts";
import { HeldRun } from "./_lease.ts";
import { runNotFound } from "./_not_found.ts";
import { checkFollow, follow } from "./_stream_follow.ts";
import * as v from "./_validate.ts";

/** A ReadStream message holds values of about this many bytes at most (one value may be more). */
const messageBytes = 4 * 1024 * 1024;

/** The most values one AppendStream takes. */
export const maxAppendValues = 1000;

/** A stored row as a StreamEntry. */
export function entryToProto(row: streams.EntryRow): StreamEntry {
  return create(StreamEntrySchema, {
    offset: BigInt(row.stream_offset),
    value: payloadOf(row.data ?? new Uint8Array(), row.metadata),
  });
}

/** The StreamService handlers. */
export function streamService(ctx: ServiceContext): ServiceImpl<typeof StreamService> {
  const { db, notifier } = ctx;
  return {
    async appendStream(req) {
      const op = "append to stream";
      const held = HeldRun.open(op, req, { anyWorker: true });
      const name = v.name(op, "name", req.name);
      const offset = Number(req.offset);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new InvalidArgumentError("offset", `Cannot ${op}: "offset" must be 0 or more`);
      }
      if (req.values.length > maxAppendValues) {
        throw new InvalidArgumentError(
          "values",
          `Cannot ${op}: ${req.values.length} values; the limit is ${maxAppendValues} a call`,
        );
      }
      if (req.values.length === 0 && !req.close) {
        throw new InvalidArgumentError(
          "values",
          `Cannot ${op}: "values" is empty and "close" is not set`,
        );
      }
      const values = req.values.map((p, i) => {
        const checked = v.payload(op, `values[${i}]`, p);
        if (checked.data.byteLength === 0) {
          throw new InvalidArgumentError(
            `values[${i}].data`,
            `Cannot ${op}: "values[${i}].data" is empty; a stream value is JSON`,
          );
        }
        return checked;
      });
      const out = await streams.appendStream(db, {
        namespaceId: held.namespaceId,
        runId: held.runId,
        fence: held.fence,
        name,
        offset,
        values,
        close: req.close,
      });
      if (!out.held) throw held.lost();
      if (offset > out.next) {
        throw new PreconditionError(
          "offset",
          String(offset),
          `Cannot ${op}: stream "${name}" of run "${held.runId}" holds ${out.next} values; ` +
            `offset ${offset} would leave a gap`,
        );
      }
      const end = offset + values.length + (req.close ? 1 : 0);
      if (end > out.next && (out.closedAt === null || offset < out.closedAt)) {
        notifier.publish(streamTopic(held.namespaceId, held.runId, name));
      }
      const closedAt = out.closedAt ?? (req.close ? offset + values.length : null);
      return create(AppendStreamResponseSchema, {
        nextOffset: BigInt(closedAt ?? Math.max(out.next, offset + values.length)),
        closed: closedAt !== null,
      });
    },

    async *readStream(req, call): AsyncIterable<ReadStreamResponse> {
      // The interceptors map what a handler throws, not what its stream throws: map it here.
      try {
        yield* read(req, call.signal);
      } catch (err) {
        throw toConnectError(err, (msg, e) => ctx.log.error(`ReadStream: ${msg}`, e));
      }
    },

    async latestStream(req) {
      const op = "read the latest stream value";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const name = v.name(op, "name", req.name);
      const got = await streams.latestEntry(db, namespaceId, runId, name);
      if (!got) throw runNotFound(namespaceId, runId);
      return create(LatestStreamResponseSchema, {
        entry: got.entry && entryToProto(got.entry),
        closed: got.closed,
      });
    },

    async listStreams(req) {
      const op = "list streams";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const rows = await streams.listStreams(db, namespaceId, runId);
      if (!rows) throw runNotFound(namespaceId, runId);
      return create(ListStreamsResponseSchema, {
        streams: rows.map((r) =>
          create(StreamInfoSchema, {
            name: r.name,
            count: BigInt(r.count),
            closed: r.closed,
            lastWrittenAt: ts(r.last_written_at),
          })
        ),
      });
    },
  };

  async function* read(
    req: { namespace: string; runId: string; name: string; from: bigint },
    signal: AbortSignal,
  ): AsyncGenerator<ReadStreamResponse> {
    const f = checkFollow("read stream", req);
    for await (const batch of follow(ctx, f, signal)) {
      // Within the response size limit a message at a time (a value is at most 4 MiB).
      let part: StreamEntry[] = [];
      let size = 0;
      for (const row of batch.entries) {
        const entry = entryToProto(row);
        const bytes = entry.value?.data.byteLength ?? 0;
        if (part.length && size + bytes > messageBytes) {
          yield create(ReadStreamResponseSchema, { entries: part });
          part = [];
          size = 0;
        }
        part.push(entry);
        size += bytes;
      }
      yield create(ReadStreamResponseSchema, { entries: part, end: batch.end });
    }
  }
}
