-- Durable streams: the ordered values a run writes with ctx.stream(name).write(value).
--
-- Append-only. A value's offset is its place in the stream (0, 1, 2 … in the order the run
-- wrote them), so a replayed write lands on the offset it had and is stored once. Closing a
-- stream stores one more row, at the offset after its last value, with `closed` set and no
-- data. A stream of an ended run reads as closed whether or not a close row was written.
create table kagzi_stream_entries (
  namespace_id  text        not null,
  run_id        uuid        not null,
  name          text        not null,
  stream_offset bigint      not null check (stream_offset >= 0),
  data          bytea,
  metadata      jsonb,
  closed        boolean     not null default false,
  created_at    timestamptz not null default now(),
  primary key (namespace_id, run_id, name, stream_offset)
);
