/**
 * SQL of the testing kit's virtual clock. On a test database, `now()` (and `clock_timestamp()`,
 * `statement_timestamp()`, `transaction_timestamp()`) resolve to functions in the schema
 * `kagzi_clock`, placed before `pg_catalog` in `search_path`, that add the offset kept in
 * `kagzi_clock.state` to the real time. The store's statements run unchanged; advancing the
 * offset moves every SQL time comparison at once. Never installed on a production database.
 */
import type { Queryable } from "./db.ts";

/** Installs the clock (run before the migrations, so column defaults call it too). */
export const installVirtualClock = `
create schema if not exists kagzi_clock;
create table if not exists kagzi_clock.state (
  id int primary key check (id = 1),
  offset_ms float8 not null
);
insert into kagzi_clock.state values (1, 0) on conflict do nothing;
create or replace function kagzi_clock.now() returns timestamptz language sql stable as
  $$ select pg_catalog.now() + (select offset_ms from kagzi_clock.state) * interval '1 millisecond' $$;
create or replace function kagzi_clock.transaction_timestamp() returns timestamptz
  language sql stable as $$ select kagzi_clock.now() $$;
create or replace function kagzi_clock.statement_timestamp() returns timestamptz language sql stable as
  $$ select pg_catalog.statement_timestamp() + (select offset_ms from kagzi_clock.state) * interval '1 millisecond' $$;
create or replace function kagzi_clock.clock_timestamp() returns timestamptz language sql volatile as
  $$ select pg_catalog.clock_timestamp() + (select offset_ms from kagzi_clock.state) * interval '1 millisecond' $$;
alter database postgres set search_path = public, kagzi_clock, pg_catalog;
`;

/** Makes this session resolve `now()` to the virtual clock (the setting is per session). */
export const useVirtualClock = "set search_path = public, kagzi_clock, pg_catalog";

/** Runs holding a lease, or due and of one of `types`: the engine has work to do now. */
const busyRuns = `status = 'RUNNING'
  or (status in ('PENDING', 'SLEEPING') and available_at <= now() and workflow_type = any($1))`;

/** Whether any run is running, or due now for one of the workflow types of `types`. */
export async function hasBusyRuns(db: Queryable, types: string[]): Promise<boolean> {
  const rows = await db.query<{ busy: boolean }>(
    `select exists (select 1 from kagzi_runs where ${busyRuns}) as busy`,
    [types],
  );
  return rows[0].busy;
}

/**
 * Sets the clock's offset to `offsetMs` (never back) unless a run is busy (see
 * {@linkcode hasBusyRuns}), in one statement so no claim slips between the check and the move.
 * True when it moved.
 */
export async function advanceClock(
  db: Queryable,
  offsetMs: number,
  types: string[],
): Promise<boolean> {
  const rows = await db.query(
    `update kagzi_clock.state set offset_ms = greatest(offset_ms, $2)
     where id = 1 and not exists (select 1 from kagzi_runs where ${busyRuns})
     returning 1`,
    [types, offsetMs],
  );
  return rows.length > 0;
}

/**
 * The next time something becomes due after now: a sleeping or backing-off run, a run's
 * deadline, an enabled schedule's fire time. Undefined when nothing is timed.
 */
export async function nextTimer(db: Queryable): Promise<Date | undefined> {
  const rows = await db.query<{ at: Date | null }>(
    `select least(
       (select min(available_at) from kagzi_runs
        where status in ('PENDING', 'SLEEPING') and available_at > now()
          and available_at < 'infinity'),
       (select min(deadline_at) from kagzi_runs
        where status in ('PENDING', 'RUNNING', 'SLEEPING') and deadline_at >= now()),
       (select min(next_fire_at) from kagzi_schedules
        where enabled and next_fire_at > now())) as at`,
  );
  return rows[0].at ?? undefined;
}
