/**
 * Following a run's stream from an offset: read what is stored, then wait for the stream's
 * notification (or the run's end) and read again — never a timed loop over the table. Shared
 * by ReadStream (Connect, gRPC-Web, gRPC) and the `text/event-stream` route.
 */
import { doneTopic, streamTopic } from "../engine/notify.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Db } from "../store/db.ts";
import type { RunStatus } from "../store/runs.ts";
import * as streams from "../store/streams.ts";
import type { ServiceContext } from "./_context.ts";
import { isTerminal } from "./_convert.ts";
import { runNotFound } from "./_not_found.ts";
import * as v from "./_validate.ts";

/** Rows read at once. */
const batchRows = 200;
/**
 * With no notification for this long, the stream is read again and a keep-alive goes out. The
 * read covers a replica that started a moment ago, which its peers do not notify yet.
 */
export const idleMs = 10_000;

/** Reads in flight, by database, stream and offset: readers at one offset share one read. */
const inFlight = new WeakMap<
  Db,
  Map<string, { started: number; read: Promise<streams.StreamRead> }>
>();
/** Orders subscriptions and reads in this process (a counter, not a time). */
let ticks = 0;

/**
 * {@linkcode streams.readStream} from `from`, shared by the followers of the stream that read
 * from the same offset at the same moment (as many readers of one stream do, woken by one
 * notification): one statement instead of one per reader. Rows never change once written, so a
 * shared answer is each reader's own. A follower joins only a read begun after it subscribed
 * (`subscribed`): an earlier read may miss a write whose notification came before the
 * subscription.
 */
function sharedRead(
  db: Db,
  f: FollowRequest,
  from: number,
  subscribed: number,
): Promise<streams.StreamRead> {
  let reads = inFlight.get(db);
  if (!reads) inFlight.set(db, reads = new Map());
  const key = `${f.namespaceId}\t${f.runId}\t${f.name}\t${from}`;
  const shared = reads.get(key);
  if (shared && shared.started > subscribed) return shared.read;
  const entry = {
    started: ++ticks,
    read: limited(
      db,
      () => streams.readStream(db, f.namespaceId, f.runId, f.name, from, batchRows),
    ),
  };
  reads.set(key, entry);
  const done = () => reads.get(key) === entry && reads.delete(key);
  entry.read.then(done, done);
  return entry.read;
}

/**
 * Stream reads on the database at once, per database: more wait their turn. Many readers must
 * not flood the pool; and postgres.js (3.4.9) loses a transaction's connection when its
 * `begin` is queued behind a full pipeline of 100 queries on one connection (the embedded
 * database has one), so readers alone never fill it.
 */
const maxReads = 8;
const gates = new WeakMap<Db, { running: number; waiting: (() => void)[] }>();

async function limited<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  let gate = gates.get(db);
  if (!gate) gates.set(db, gate = { running: 0, waiting: [] });
  if (gate.running >= maxReads) await new Promise<void>((r) => gate.waiting.push(r));
  else gate.running++;
  try {
    return await fn();
  } finally {
    const next = gate.waiting.shift();
    if (next) next(); // the slot passes on
    else gate.running--;
  }
}

/** One step of a follow: the next values, and whether the stream ended after them. */
export interface FollowBatch {
  entries: streams.EntryRow[];
  /** Closed, or its run ended, and every value was sent. */
  end: boolean;
}

/** What to follow. */
export interface FollowRequest {
  namespaceId: string;
  runId: string;
  name: string;
  from: number;
}

/** Checks the run id, name and offset of a read; `op` names the call in messages. */
export function checkFollow(
  op: string,
  req: { namespace: string; runId: string; name: string; from: bigint | number },
): FollowRequest {
  const namespaceId = v.namespace(op, req.namespace);
  const runId = v.runId(op, req.runId);
  const name = v.name(op, "name", req.name);
  const from = Number(req.from);
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new InvalidArgumentError(
      "from",
      `Cannot ${op}: "from" must be 0 or more, not ${req.from}`,
    );
  }
  return { namespaceId, runId, name, from };
}

/**
 * The values of a stream from `from` on, as they are written; the first batch comes at once
 * (empty when nothing is stored yet), a later empty batch is a keep-alive after a quiet while.
 * Ends after a batch with `end`, or when `signal` is aborted. Throws NOT_FOUND when the run
 * does not exist at the first read.
 */
export async function* follow(
  ctx: ServiceContext,
  f: FollowRequest,
  signal: AbortSignal,
): AsyncGenerator<FollowBatch> {
  const { notifier, db } = ctx;
  let next = f.from;
  for (let first = true; !signal.aborted; first = false) {
    // Subscribe before reading, so a write or an end in between wakes the wait below.
    const wake = new AbortController();
    const stop = () => wake.abort();
    signal.addEventListener("abort", stop, { once: true });
    try {
      const woken = Promise.race([
        notifier.wait(streamTopic(f.namespaceId, f.runId, f.name), idleMs, wake.signal),
        notifier.wait(doneTopic(f.namespaceId, f.runId), idleMs, wake.signal),
      ]);
      const read = await sharedRead(db, f, next, ++ticks);
      if (read.status === undefined) {
        if (first) throw runNotFound(f.namespaceId, f.runId);
        return; // deleted meanwhile (retention): nothing more will come
      }
      const entries: streams.EntryRow[] = [];
      let end = false;
      for (const row of read.rows) {
        if (row.closed) {
          end = true;
          break;
        }
        entries.push(row);
        next = Number(row.stream_offset) + 1;
      }
      const full = read.rows.length === batchRows;
      if (!full && isTerminal(read.status as RunStatus)) end = true;
      // The first read always answers, so a caller knows at once that the stream exists.
      if (entries.length || end || first) yield { entries, end };
      if (end) return;
      if (full) continue;
      if (!(await woken) && !signal.aborted) yield { entries: [], end: false };
    } finally {
      wake.abort();
      signal.removeEventListener("abort", stop);
    }
  }
}
