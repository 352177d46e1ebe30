-- A cancelled child's outcome, as its waiting parent stores it, says "cancelled" once: the
-- child's own message begins "Cancelled: <reason>" (CancelWorkflow, a bulk cancel), so the
-- parent's CHILD step read 'Child run <id> was cancelled: Cancelled: <reason>'. It now reads
-- 'Child run <id> was cancelled: <reason>' ('Child run <id> was cancelled' without a reason).
-- Nothing else of kagzi_run_ended changes (as in 0008_run_control.sql).
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
              coalesce(': ' || nullif(regexp_replace(new.error ->> 'message',
                                                     '^Cancelled(: |$)', ''), ''), ''))
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
