/**
 * SQL for durable streams (`kagzi_stream_entries`, migration 0012): appending a held run's
 * values at their offsets (stored once each), reading from an offset together with the run's
 * status, the last value, the streams of a run, and the cursors a replay starts from.
 */
import { base64, type Queryable } from "./db.ts";

const ended = `('COMPLETED', 'FAILED', 'CANCELLED')`;

/** Values to append to a stream of a held run. */
export interface Append {
  namespaceId: string;
  runId: string;
  fence: string;
  name: string;
  /** The offset of the first value. */
  offset: number;
  values: { data: Uint8Array; metadata: Record<string, string> }[];
  close: boolean;
}

/** What an append found: whether the lease held, and the stream as it was before it. */
export interface Appended {
  held: boolean;
  /** The offset after the last row stored before the append (a close row counts). */
  next: number;
  /** The offset of the close row stored before the append, if the stream was closed. */
  closedAt: number | null;
}

/**
 * Stores values at `offset`, `offset + 1` … (and a close row after them) in one statement, if
 * the run is still held with the fence and the values follow what is stored (no gap). Offsets
 * already stored are left as they are (a replayed write); nothing is stored past a close row.
 */
export async function appendStream(db: Queryable, a: Append): Promise<Appended> {
  const rows = await db.query<{ held: boolean; next: string; closed_at: string | null }>(
    `with run as (
       select 1 from kagzi_runs
       where namespace_id = $1 and run_id = $2 and fence = $3 and status in ('RUNNING', 'PAUSED')
       for share),
     state as (
       select coalesce(max(stream_offset) + 1, 0) as next,
              min(stream_offset) filter (where closed) as closed_at
       from kagzi_stream_entries where namespace_id = $1 and run_id = $2 and name = $4),
     input as (
       select $5::bigint + u.i - 1 as off, decode(u.d, 'base64') as data, u.m::jsonb as metadata,
              false as closed
       from unnest($6::text[], $7::text[]) with ordinality as u(d, m, i)
       union all
       select $5::bigint + cardinality($6::text[]), null, null, true where $8::boolean),
     ins as (
       insert into kagzi_stream_entries (namespace_id, run_id, name, stream_offset, data,
                                         metadata, closed)
       select $1, $2, $4, i.off, i.data, i.metadata, i.closed
       from input i, state s, run
       where $5::bigint <= s.next and (s.closed_at is null or i.off < s.closed_at)
       on conflict do nothing)
     select exists (select 1 from run) as held, s.next::text, s.closed_at::text from state s`,
    [
      a.namespaceId,
      a.runId,
      a.fence,
      a.name,
      a.offset,
      a.values.map((v) => base64(v.data)),
      a.values.map((v) => JSON.stringify(v.metadata)),
      a.close,
    ],
  );
  const r = rows[0];
  return {
    held: r.held,
    next: Number(r.next),
    closedAt: r.closed_at === null ? null : Number(r.closed_at),
  };
}

/** A stored row of a stream. */
export interface EntryRow {
  stream_offset: string;
  data: Uint8Array | null;
  metadata: Record<string, string> | null;
  closed: boolean;
}

/** The rows of a stream from an offset, with the run's status (none when the run is absent). */
export interface StreamRead {
  /** The run's status; undefined when there is no such run. */
  status: string | undefined;
  rows: EntryRow[];
}

/**
 * Up to `limit` rows of a stream from `from` on, in order, and the status of its run, read in
 * one snapshot: when the run has ended, every row it wrote is in that snapshot.
 */
export async function readStream(
  db: Queryable,
  namespaceId: string,
  runId: string,
  name: string,
  from: number,
  limit: number,
): Promise<StreamRead> {
  const rows = await db.query<EntryRow & { status: string }>(
    `select r.status, e.stream_offset::text, e.data, e.metadata, coalesce(e.closed, false) as closed
     from kagzi_runs r
     left join lateral (
       select stream_offset, data, metadata, closed from kagzi_stream_entries e
       where e.namespace_id = r.namespace_id and e.run_id = r.run_id and e.name = $3
         and e.stream_offset >= $4
       order by e.stream_offset limit $5) e on true
     where r.namespace_id = $1 and r.run_id = $2`,
    [namespaceId, runId, name, from, limit],
  );
  if (rows.length === 0) return { status: undefined, rows: [] };
  return {
    status: rows[0].status,
    rows: rows[0].stream_offset === null ? [] : rows,
  };
}

/** The last value of a stream and whether it is closed; undefined when the run is absent. */
export async function latestEntry(
  db: Queryable,
  namespaceId: string,
  runId: string,
  name: string,
): Promise<{ entry: EntryRow | undefined; closed: boolean } | undefined> {
  const rows = await db.query<EntryRow & { ended: boolean; is_closed: boolean }>(
    `select r.status in ${ended} as ended,
            exists (select 1 from kagzi_stream_entries c
                    where c.namespace_id = $1 and c.run_id = $2 and c.name = $3 and c.closed)
              as is_closed,
            e.stream_offset::text, e.data, e.metadata, false as closed
     from kagzi_runs r
     left join lateral (
       select stream_offset, data, metadata from kagzi_stream_entries e
       where e.namespace_id = r.namespace_id and e.run_id = r.run_id and e.name = $3
         and not e.closed
       order by e.stream_offset desc limit 1) e on true
     where r.namespace_id = $1 and r.run_id = $2`,
    [namespaceId, runId, name],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    entry: r.stream_offset === null ? undefined : r,
    closed: r.ended || r.is_closed,
  };
}

/** A stream of a run, for ListStreams. */
export interface StreamInfoRow {
  name: string;
  count: string;
  closed: boolean;
  last_written_at: Date;
}

/** The streams of a run, by name; undefined when the run is absent. */
export async function listStreams(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<StreamInfoRow[] | undefined> {
  const rows = await db.query<StreamInfoRow & { ended: boolean }>(
    `select r.status in ${ended} as ended, s.name, s.count::text, s.closed, s.last_written_at
     from kagzi_runs r
     left join lateral (
       select name, count(*) filter (where not closed) as count, bool_or(closed) as closed,
              max(created_at) as last_written_at
       from kagzi_stream_entries e
       where e.namespace_id = r.namespace_id and e.run_id = r.run_id
       group by name) s on true
     where r.namespace_id = $1 and r.run_id = $2
     order by s.name`,
    [namespaceId, runId],
  );
  if (rows.length === 0) return undefined;
  return rows.filter((r) => r.name !== null).map((r) => ({ ...r, closed: r.closed || r.ended }));
}

/** How far each stream of the given runs was written: what a replay of them starts from. */
export async function streamCursors(
  db: Queryable,
  namespaceId: string,
  runIds: string[],
): Promise<{ run_id: string; name: string; next_offset: string; closed: boolean }[]> {
  return await db.query(
    `select run_id::text, name, count(*) filter (where not closed)::text as next_offset,
            bool_or(closed) as closed
     from kagzi_stream_entries
     where namespace_id = $1 and run_id = any($2::uuid[])
     group by run_id, name`,
    [namespaceId, runIds],
  );
}
