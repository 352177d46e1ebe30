-- Signals and child workflows.
--
-- A run has a mailbox of signals (FIFO per name). A wait for a signal is a step of kind SIGNAL:
-- WAITING until a signal is taken, then COMPLETED with its payload (or FAILED on timeout).
-- A child workflow is a step of kind CHILD holding the child's run id: WAITING while the child
-- runs, COMPLETED/FAILED with its outcome when it ends. A trigger moves that outcome into the
-- parent's step and wakes the parent, and cancels the open "cancel" children of a run that ends,
-- in the same transaction as the run's end, so neither is ever lost.

alter table kagzi_runs
  add column parent_run_id uuid,
  add column parent_close_policy text check (parent_close_policy in ('cancel', 'abandon')),
  -- Set when a signal or a child's end arrives while the run is held; the next suspension
  -- then makes the run due at once instead of sleeping through it.
  add column wake_pending boolean not null default false;
create index kagzi_runs_parent on kagzi_runs (namespace_id, parent_run_id, seq)
  where parent_run_id is not null;

alter table kagzi_steps drop constraint kagzi_steps_kind_check;
alter table kagzi_steps add constraint kagzi_steps_kind_check
  check (kind in ('FUNCTION', 'SLEEP', 'SIGNAL', 'CHILD'));
alter table kagzi_steps drop constraint kagzi_steps_status_check;
alter table kagzi_steps add constraint kagzi_steps_status_check
  check (status in ('RUNNING', 'COMPLETED', 'FAILED', 'SLEEPING', 'WAITING'));
alter table kagzi_steps add column child_run_id uuid;
create index kagzi_steps_waiting_child on kagzi_steps (namespace_id, child_run_id)
  where status = 'WAITING' and kind = 'CHILD';

create table kagzi_signals (
  namespace_id    text        not null,
  run_id          uuid        not null,
  signal_id       uuid        not null,
  seq             bigint      generated always as identity,
  name            text        not null,
  data            bytea,
  metadata        jsonb,
  idempotency_key text,
  created_at      timestamptz not null default now(),
  consumed_at     timestamptz,
  -- The wait that took it: the n-th wait of the run for this name.
  consumed_by     integer,
  primary key (namespace_id, run_id, signal_id)
);
create unique index kagzi_signals_idempotency on kagzi_signals
  (namespace_id, run_id, idempotency_key) where idempotency_key is not null;
create index kagzi_signals_pending on kagzi_signals (namespace_id, run_id, name, seq)
  where consumed_at is null;
create index kagzi_signals_list on kagzi_signals (namespace_id, run_id, seq);

create function kagzi_run_ended() returns trigger language plpgsql as $$
begin
  -- The parents (or any run that waits for this one as a child) take its outcome and wake up.
  with waiting as (
    update kagzi_steps s
    set status = case when new.status = 'COMPLETED' then 'COMPLETED' else 'FAILED' end,
        output = o.data, output_metadata = o.metadata,
        output_size = coalesce(octet_length(o.data), 0),
        error = case
          when new.status = 'COMPLETED' then null
          when new.status = 'CANCELLED' then jsonb_build_object(
            'code', 'ERROR_CODE_CANCELLED', 'name', 'WorkflowCancelledError',
            'nonRetryable', true, 'subject', 'run', 'subjectId', new.run_id::text,
            'message', 'Child run ' || new.run_id::text || ' was cancelled' ||
              coalesce(': ' || nullif(new.error ->> 'message', ''), ''))
          else coalesce(new.error, jsonb_build_object(
            'code', 'ERROR_CODE_APPLICATION', 'message', 'Child run failed'))
        end,
        finished_at = now()
    from (select 1) one
    left join kagzi_payloads o on o.namespace_id = new.namespace_id and o.run_id = new.run_id
                              and o.kind = 'output'
    where s.namespace_id = new.namespace_id and s.child_run_id = new.run_id
      and s.kind = 'CHILD' and s.status = 'WAITING'
    returning s.run_id)
  update kagzi_runs p
  set wake_pending = p.status = 'RUNNING',
      available_at = case when p.status in ('PENDING', 'SLEEPING')
                          then least(p.available_at, now()) else p.available_at end,
      wake_up_at = case when p.status in ('PENDING', 'SLEEPING') then null else p.wake_up_at end,
      updated_at = now()
  where p.namespace_id = new.namespace_id and p.run_id in (select run_id from waiting)
    and p.status in ('PENDING', 'RUNNING', 'SLEEPING');
  -- Pollers on every server (listening on real Postgres) look for the woken parent at once.
  if found then
    perform pg_notify('kagzi_events', 'db' || chr(9) || 'work:' || new.namespace_id);
  end if;

  -- Open children with the "cancel" policy end with their parent (recursively, through this
  -- same trigger on each child).
  update kagzi_runs c
  set status = 'CANCELLED', finished_at = now(), updated_at = now(), locked_until = null,
      error = jsonb_build_object(
        'code', 'ERROR_CODE_CANCELLED', 'name', 'WorkflowCancelledError', 'nonRetryable', true,
        'subject', 'run', 'subjectId', new.run_id::text,
        'message', 'Parent run ' || new.run_id::text || ' ended (' || lower(new.status) || ')')
  where c.namespace_id = new.namespace_id and c.parent_run_id = new.run_id
    and c.parent_close_policy = 'cancel' and c.status in ('PENDING', 'RUNNING', 'SLEEPING');
  return null;
end
$$;

create trigger kagzi_run_ended after update of status on kagzi_runs
  for each row
  when (new.status in ('COMPLETED', 'FAILED', 'CANCELLED')
        and old.status in ('PENDING', 'RUNNING', 'SLEEPING'))
  execute function kagzi_run_ended();
