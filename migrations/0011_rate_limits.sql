-- Rate limits (flow control). Named limits are set by operators (RateLimitService) and taken by
-- steps (`ctx.step(n).rateLimit(name)`); a workflow type's run rate limit is declared with its
-- registration and taken by the claim. Both take tokens from kagzi_rate_buckets.
create table kagzi_rate_limits (
  namespace_id text        not null,
  name         text        not null,
  "limit"      int         not null check ("limit" > 0),
  period_ms    bigint      not null check (period_ms > 0),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  primary key (namespace_id, name)
);

-- One token bucket per (namespace, kind, name, key): kind 'step' (name: a named limit, key '')
-- or 'run' (name: a workflow type, key: the value of its rate limit's key in the run's input).
-- GCRA with no burst tolerance: `tat` (theoretical arrival time) is when the next token frees;
-- a take at `now` succeeds when tat <= now and moves tat to greatest(tat, now) + period/limit,
-- so taken tokens are at least period/limit apart and any window of `period` holds at most
-- `limit` of them. `next_wake` spreads the callers told to come back: each is given its own
-- time, period/limit after the previous one's, so waiters do not all wake for one token.
-- A row whose tat and next_wake have passed acts as no row: the sweep may delete it.
create table kagzi_rate_buckets (
  namespace_id text        not null,
  kind         text        not null check (kind in ('step', 'run')),
  name         text        not null,
  key          text        not null,
  tat          timestamptz not null,
  next_wake    timestamptz not null,
  primary key (namespace_id, kind, name, key)
);
create index kagzi_rate_buckets_idle on kagzi_rate_buckets (greatest(tat, next_wake));

-- Takes one token of a bucket in the caller's transaction (the row stays locked until it ends),
-- at `p_at` (the transaction's time unless given). Returns null when taken, else when the
-- caller should try again (never before the next token frees). `p_interval_ms` is period / limit.
-- A newcomer is told the time after the last waiter's; a waiter (`p_waiter`: told a time before)
-- that is back before the token frees (the tokens before it were taken late) is told the time the
-- token frees, keeping its place.
create function kagzi_take_token(p_ns text, p_kind text, p_name text, p_key text,
                                 p_interval_ms float8, p_at timestamptz default now(),
                                 p_waiter boolean default false)
returns timestamptz
language plpgsql as $$
declare
  iv interval := p_interval_ms * interval '1 millisecond';
  b record;
  wake timestamptz;
begin
  insert into kagzi_rate_buckets (namespace_id, kind, name, key, tat, next_wake)
  values (p_ns, p_kind, p_name, p_key, p_at + iv, '-infinity')
  on conflict do nothing;
  if found then
    return null;
  end if;
  select tat, next_wake into b from kagzi_rate_buckets
  where namespace_id = p_ns and kind = p_kind and name = p_name and key = p_key
  for update;
  if b.tat <= p_at then
    update kagzi_rate_buckets set tat = greatest(b.tat, p_at) + iv
    where namespace_id = p_ns and kind = p_kind and name = p_name and key = p_key;
    return null;
  end if;
  if p_waiter then
    return b.tat;
  end if;
  wake := greatest(b.next_wake + iv, b.tat);
  update kagzi_rate_buckets set next_wake = wake
  where namespace_id = p_ns and kind = p_kind and name = p_name and key = p_key;
  return wake;
end $$;

-- A run over its type's run rate limit: its first claim took no token and left it PENDING, due
-- again at its turn (available_at). Cleared by the claim that begins it. The index finds the
-- next such turn, for the claim that held runs back to wake pollers then.
alter table kagzi_runs add column rate_limited boolean not null default false;
create index kagzi_runs_rate_limited on kagzi_runs (namespace_id, available_at)
  where rate_limited and status = 'PENDING';
