-- A workflow id stays an idempotency key while any run under it is retained. Each run gets its
-- number under its workflow id (0 for the first); one unique index over every retained run,
-- whatever its status, makes a second "first run" impossible even when two starts race after
-- the first run ended (the loser's insert conflicts on (namespace_id, workflow_id, 0)).
-- StartWorkflow's default ("return-existing") and "fail" insert only when no run is retained
-- under the id (number 0); "allow-after-failure" / "allow-after-end", RetryWorkflow and child
-- starts insert the next number after the newest run, so two of them racing conflict on that
-- number (and on kagzi_runs_active_workflow_id, which still allows one open run per id). The
-- retention sweep deletes runs, their index entries with them: the index is as big as the
-- retained runs, and a workflow id whose runs are all deleted is free again.
alter table kagzi_runs add column id_generation int not null default 0;
update kagzi_runs r set id_generation = g.n
from (select namespace_id, run_id,
             (row_number() over (partition by namespace_id, workflow_id order by seq) - 1)::int n
      from kagzi_runs) g
where r.namespace_id = g.namespace_id and r.run_id = g.run_id and g.n > 0;
create unique index kagzi_runs_workflow_id_generation
  on kagzi_runs (namespace_id, workflow_id, id_generation);

-- GetWorkflow lists the runs RetryWorkflow started from a run (its retries and reruns).
create index kagzi_runs_retried_from on kagzi_runs (namespace_id, retried_from_run_id)
  where retried_from_run_id is not null;

-- PAUSED: an operator's hold on a run (PauseWorkflow). Nothing claims it (available_at is
-- infinity, as for PARKED); a running run's worker loses its lease at once and stops at its next
-- step boundary (its next write is refused). It is open: it keeps its workflow id, its deadline
-- still applies, signals are kept, cancel ends it; ResumeWorkflow makes it PENDING again.
alter table kagzi_runs drop constraint kagzi_runs_status_check;
alter table kagzi_runs add constraint kagzi_runs_status_check check (status in
  ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED'));
drop index kagzi_runs_active_workflow_id;
create unique index kagzi_runs_active_workflow_id on kagzi_runs (namespace_id, workflow_id)
  where status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED');
drop index kagzi_runs_deadline;
create index kagzi_runs_deadline on kagzi_runs (deadline_at)
  where deadline_at is not null and status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED');

-- Cancelling a paused run ends it like any open run: its parent hears, its children go too.
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
    and c.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED');
  return null;
end
$$;

drop trigger kagzi_run_ended on kagzi_runs;
create trigger kagzi_run_ended after update of status on kagzi_runs
  for each row
  when (new.status in ('COMPLETED', 'FAILED', 'CANCELLED')
        and old.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED'))
  execute function kagzi_run_ended();

-- Tags: searchable attributes of a run, set at start. ListWorkflows filters with tags @> $n,
-- served by this GIN index (jsonb_path_ops: containment only, about a third the size of the
-- default operator class).
alter table kagzi_runs add column tags jsonb not null default '{}';
create index kagzi_runs_tags on kagzi_runs using gin (tags jsonb_path_ops);

-- Paused workflow types (PauseWorkflowType): their open runs were paused, and no run of them is
-- claimed or handed to a poll (new starts wait PENDING) until ResumeWorkflowType. Few rows.
create table kagzi_paused_types (
  namespace_id  text        not null,
  workflow_type text        not null,
  paused_at     timestamptz not null default now(),
  primary key (namespace_id, workflow_type)
);

-- ctx.setTags(): the SDK stores the tags as the output of a memoized step "kagzi:tags" (so a
-- replay does not set them again); when such a step completes, its tags merge into the run's.
-- The WHEN clause keeps every other step write free of the function call.
create function kagzi_step_tags() returns trigger language plpgsql as $$
declare
  t jsonb;
begin
  begin
    t := convert_from(new.output, 'UTF8')::jsonb;
  exception when others then
    return null; -- not JSON: not tags
  end;
  if jsonb_typeof(t) = 'object' then
    update kagzi_runs set tags = tags || t
    where namespace_id = new.namespace_id and run_id = new.run_id;
  end if;
  return null;
end
$$;
create trigger kagzi_step_tags after insert or update of status on kagzi_steps
  for each row
  when (new.kind = 'FUNCTION' and new.name = 'kagzi:tags' and new.status = 'COMPLETED'
        and new.output is not null)
  execute function kagzi_step_tags();
