-- Flow control (issue 20): per-key and global concurrency, priority, debounce, and the run rate
-- limit's key, declared with a workflow's definition and sent at Register.

-- The flow control each (type, version) was last registered with: {concurrency: [{key, limit}],
-- rateLimit: {key, limit, periodMs}, debounce: {key, periodMs, maxWaitMs}, priority}. The newest
-- registration wins; worker_id says whose it is.
create table kagzi_flow_controls (
  namespace_id  text        not null,
  workflow_type text        not null,
  version       text        not null,
  config        jsonb       not null,
  worker_id     text        not null default '',
  updated_at    timestamptz not null default now(),
  primary key (namespace_id, workflow_type, version)
);

-- Concurrency slots: one row per (type, limit key value), "<path>=<value>" or "*" for the limit
-- over the whole type. `used` counts the open runs holding a slot (from their first claim until
-- they end); `cap` is the limit of the newest start. The claim takes slots with the row locked
-- (rows locked in slot_key order everywhere, so claims and ends never deadlock on them), and the
-- end of a holder gives its slot back in the transaction that ends it (trigger below).
create table kagzi_flow_slots (
  namespace_id  text    not null,
  workflow_type text    not null,
  slot_key      text    not null,
  cap           integer not null check (cap >= 1),
  used          integer not null default 0 check (used >= 0),
  primary key (namespace_id, workflow_type, slot_key)
);

alter table kagzi_runs
  -- Higher is claimed first; FIFO (by due time) within one priority.
  add column priority integer not null default 0,
  -- The concurrency slots the run needs (evaluated from its input at start); null: none.
  add column flow_slots text[],
  -- It holds those slots (claimed at least once and not ended).
  add column flow_held boolean not null default false,
  -- The full slot it waits for: PENDING with available_at infinity until a holder of that slot
  -- ends (which makes the first waiter by priority, then start order, due again).
  add column flow_wait text,
  -- The value of its rate limit's key (evaluated from its input at start); null: none.
  add column rate_key text,
  -- A debounced run not begun yet: its debounce key, and the latest it may begin (first start
  -- plus maxWait). Cleared by its first claim.
  add column debounce_key text,
  add column debounce_until timestamptz;

-- The claim: due runs of a type and version, highest priority first, oldest first within one.
-- Runs waiting with no due time (a flow-control slot, a signal, a child) are not in it, so a
-- backlog held back by a limit is never scanned.
drop index kagzi_runs_claim;
create index kagzi_runs_claim on kagzi_runs
  (namespace_id, workflow_type, version, priority desc, available_at)
  where status in ('PENDING', 'SLEEPING') and available_at < 'infinity';

-- The waiters of a slot, in the order they get it.
create index kagzi_runs_flow_wait on kagzi_runs (namespace_id, workflow_type, flow_wait, priority desc, seq)
  where flow_wait is not null;

-- One pending debounced run per (type, key): a later start with the key replaces its input.
create unique index kagzi_runs_debounce on kagzi_runs (namespace_id, workflow_type, debounce_key)
  where debounce_key is not null and status = 'PENDING';

-- The end of a run that needs slots: gives back the slots it holds, and makes the first waiter
-- of each slot with room due again (a run ending before its first claim frees nothing but may
-- have been the one made due: the next waiter takes its turn). Same transaction as the end.
create function kagzi_flow_release() returns trigger language plpgsql as $$
begin
  perform 1 from (select 1 from kagzi_flow_slots f
                  where f.namespace_id = old.namespace_id and f.workflow_type = old.workflow_type
                    and f.slot_key = any(old.flow_slots)
                  order by f.slot_key for update) locked;
  if old.flow_held then
    update kagzi_flow_slots f set used = greatest(f.used - 1, 0)
    where f.namespace_id = old.namespace_id and f.workflow_type = old.workflow_type
      and f.slot_key = any(old.flow_slots);
  end if;
  update kagzi_runs w set available_at = now(), flow_wait = null, updated_at = now()
  from kagzi_flow_slots f
  cross join lateral (select x.run_id from kagzi_runs x
                      where x.namespace_id = f.namespace_id and x.workflow_type = f.workflow_type
                        and x.flow_wait = f.slot_key and x.status = 'PENDING'
                      order by x.priority desc, x.seq limit 1) next
  where f.namespace_id = old.namespace_id and f.workflow_type = old.workflow_type
    and f.slot_key = any(old.flow_slots) and f.used < f.cap
    and w.namespace_id = old.namespace_id and w.run_id = next.run_id;
  if found then
    perform pg_notify('kagzi_events', 'db' || chr(9) || 'work:' || old.namespace_id);
  end if;
  return null;
end
$$;
create trigger kagzi_flow_release after update of status on kagzi_runs
  for each row
  when (new.status in ('COMPLETED', 'FAILED', 'CANCELLED')
        and old.status in ('PENDING', 'RUNNING', 'SLEEPING', 'PARKED', 'PAUSED')
        and old.flow_slots is not null)
  execute function kagzi_flow_release();
