-- Bulk operations (BulkOperationService): one row per job. Whichever server holds the lease
-- (owner, locked_until) works it in batches, each one transaction that locks this row, checks
-- the fence, acts on the next runs after `cursor` (by seq, up to max_seq: the runs that existed
-- at the start) and moves the cursor: a batch is done once or not at all, so a job taken over
-- after a crash or a lost lease goes on exactly where the last committed batch left it.
create table kagzi_bulk_operations (
  namespace_id  text        not null,
  operation_id  uuid        not null,
  action        text        not null check (action in ('RERUN', 'CANCEL', 'PAUSE', 'RESUME')),
  filter        jsonb       not null,
  reason        text        not null default '',
  status        text        not null default 'RUNNING'
                            check (status in ('RUNNING', 'COMPLETED', 'CANCELLED')),
  total         bigint      not null,
  done          bigint      not null default 0,
  acted         bigint      not null default 0,
  skipped       bigint      not null default 0,
  cursor        bigint      not null default 0,
  max_seq       bigint      not null,
  owner         text,
  fence         bigint      not null default 0,
  locked_until  timestamptz,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  finished_at   timestamptz,
  primary key (namespace_id, operation_id)
);
-- Servers look for RUNNING jobs whose lease is free or expired.
create index kagzi_bulk_operations_running on kagzi_bulk_operations (locked_until)
  where status = 'RUNNING';
