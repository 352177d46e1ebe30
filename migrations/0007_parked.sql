-- PARKED: a run whose replay asked for another step (kind or name) than its history recorded
-- there, i.e. its code changed under it. Nothing of it runs, nothing claims it, and it keeps its
-- workflow id, until an operator resumes it (ResumeWorkflow) or cancels it.

alter table kagzi_runs drop constraint kagzi_runs_status_check;
alter table kagzi_runs add constraint kagzi_runs_status_check check (status in
  ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'COMPLETED', 'FAILED', 'CANCELLED'));
-- Where the code and the history parted: {expected, asked, unasked[], parkedAt, workerId}.
alter table kagzi_runs add column parked jsonb;

-- A parked run is open: it holds its workflow id and its deadline still applies.
drop index kagzi_runs_active_workflow_id;
create unique index kagzi_runs_active_workflow_id on kagzi_runs (namespace_id, workflow_id)
  where status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED');
drop index kagzi_runs_deadline;
create index kagzi_runs_deadline on kagzi_runs (deadline_at)
  where deadline_at is not null and status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED');
-- Few rows: the parked-runs gauge and listing read only these.
create index kagzi_runs_parked on kagzi_runs (namespace_id, workflow_type) where status = 'PARKED';

-- Step attempts set aside by a resume "from here": recorded by code the run no longer follows,
-- kept for the record (listed with superseded_at), never replayed.
create table kagzi_superseded_steps (
  like kagzi_steps including defaults,
  superseded_at timestamptz not null default now()
);
create index kagzi_superseded_steps_run on kagzi_superseded_steps (namespace_id, run_id);

-- Cancelling a parked run ends it like any open run: its parent hears, its children go too.
create or replace function kagzi_run_ended() returns trigger language plpgsql as $$
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
    and c.parent_close_policy = 'cancel'
    and c.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED');
  return null;
end
$$;

drop trigger kagzi_run_ended on kagzi_runs;
create trigger kagzi_run_ended after update of status on kagzi_runs
  for each row
  when (new.status in ('COMPLETED', 'FAILED', 'CANCELLED')
        and old.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED'))
  execute function kagzi_run_ended();
