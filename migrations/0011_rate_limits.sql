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
-- A GCRA over blocks of m tokens (run buckets: m the largest divisor of `limit` up to 64; step
-- buckets: m = 1, see kagzi_take_token): with T = period /
-- limit, a token is taken at t when t >= (the m-th last token) + m*T and t >= (the last token)
-- + T/2. Chained over limit/m blocks, the first rule keeps every window of `period` to at most
-- `limit` tokens, exactly; the second keeps them smooth (never two closer than T/2, so never a
-- burst), while a token taken late (its taker came back a little after its time) does not
-- lower the rate: the next may follow sooner. With m = 1 it is the classic GCRA (tokens T
-- apart). `recent` holds the last m tokens' times, `tat` when the next token frees.
-- `next_wake` spreads the callers told to come back: each newcomer is given its own time, T
-- after the previous one's, so waiters do not all wake for one token.
-- A row whose tat and next_wake have passed acts as no row: the sweep may delete it.
create table kagzi_rate_buckets (
  namespace_id text          not null,
  kind         text          not null check (kind in ('step', 'run')),
  name         text          not null,
  key          text          not null,
  recent       timestamptz[] not null,
  tat          timestamptz   not null,
  next_wake    timestamptz   not null,
  primary key (namespace_id, kind, name, key)
);
create index kagzi_rate_buckets_idle on kagzi_rate_buckets (greatest(tat, next_wake));

-- The block size m of a limit: its largest divisor up to 64.
create function kagzi_rate_block(p_limit int) returns int language plpgsql immutable as $$
declare
  m int := least(p_limit, 64);
begin
  while p_limit % m <> 0 loop
    m := m - 1;
  end loop;
  return m;
end $$;

-- When the next token of a bucket frees, given its recent tokens (oldest first) and its block.
create function kagzi_rate_free(p_recent timestamptz[], p_limit int, p_period_ms float8, m int)
returns timestamptz language plpgsql immutable as $$
declare
  iv interval := p_period_ms / p_limit * interval '1 millisecond';
  n int := coalesce(cardinality(p_recent), 0);
begin
  if n = 0 then
    return '-infinity';
  end if;
  return greatest(p_recent[n] + iv / 2,
                  case when n >= m then p_recent[n - m + 1] + m * iv else '-infinity' end);
end $$;

-- Step buckets use blocks of one (the classic GCRA): a step's token is taken by BeginStep and
-- its function starts a network hop later, so tokens exactly a window apart could show as
-- limit + 1 starts in a window; a run's begin is the claim's own time, so run buckets catch up.
-- Takes one token of a bucket in the caller's transaction (the row stays locked until it ends),
-- at `p_at` (the transaction's time unless given). Returns null when taken, else when the
-- caller should try again (never before the next token frees). A newcomer is told the time
-- after the last waiter's; a waiter (`p_waiter`: told a time before) that is back before the
-- token frees (the tokens before it were taken late) is told the time it frees, keeping its place.
create function kagzi_take_token(p_ns text, p_kind text, p_name text, p_key text,
                                 p_limit int, p_period_ms float8,
                                 p_at timestamptz default now(),
                                 p_waiter boolean default false)
returns timestamptz
language plpgsql as $$
declare
  iv interval := p_period_ms / p_limit * interval '1 millisecond';
  m int := case when p_kind = 'run' then kagzi_rate_block(p_limit) else 1 end;
  b record;
  free timestamptz;
  kept timestamptz[];
  wake timestamptz;
begin
  insert into kagzi_rate_buckets (namespace_id, kind, name, key, recent, tat, next_wake)
  values (p_ns, p_kind, p_name, p_key, array[p_at],
          kagzi_rate_free(array[p_at], p_limit, p_period_ms, m), '-infinity')
  on conflict do nothing;
  if found then
    return null;
  end if;
  select recent, next_wake into b from kagzi_rate_buckets
  where namespace_id = p_ns and kind = p_kind and name = p_name and key = p_key
  for update;
  free := kagzi_rate_free(b.recent, p_limit, p_period_ms, m);
  if free <= p_at then
    kept := b.recent[greatest(1, cardinality(b.recent) - m + 2):] || p_at;
    update kagzi_rate_buckets
    set recent = kept, tat = kagzi_rate_free(kept, p_limit, p_period_ms, m)
    where namespace_id = p_ns and kind = p_kind and name = p_name and key = p_key;
    return null;
  end if;
  if p_waiter then
    return free;
  end if;
  wake := greatest(b.next_wake + iv, free);
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
