/**
 * The parts the claim statements share (store/claim.ts): the due runs in claim order, and the
 * update that claims them. Parameters: $1 namespace, $2 types, $3 versions (pairs), $4 the
 * worker of each position, $5 the lease in milliseconds, $6 how many runs at most.
 */

/** Run `a` was claimed before (a resumed run: its history goes with its task). */
const resumedOf = (a: string) =>
  `${a}.started_at is not null or ${a}.retried_from_run_id is not null`;

/** Run `a` begins under a rate key: its first claim takes a token, if its type has a limit. */
const ratedOf = (a: string) => `${a}.started_at is null and ${a}.rate_key is not null`;

/** Run `a` needs the full claim: a concurrency slot it does not hold yet, or a token. */
const needsFlowOf = (a: string) =>
  `(${a}.flow_slots is not null and not ${a}.flow_held) or (${ratedOf(a)})`;

/** The type `type` (an SQL expression) is not paused in namespace $1. */
const notPaused = (type: string) =>
  `not exists (select 1 from kagzi_paused_types p
                      where p.namespace_id = $1 and p.workflow_type = ${type})`;

/**
 * Per (type, version) served and not paused, the due runs in claim order (the claim index read
 * a priority at a time, highest first: a skip scan, so runs due later are never scanned), at most
 * `$6` per priority. `lock`: each row locked as it is read, rows others hold skipped. `where`:
 * more conditions on the (type, version) pairs.
 */
export const dueRuns = (lock: string, where = "") =>
  `select r.* from (
         select * from unnest($2::text[], $3::text[]) u(t, v)
         where ${notPaused("u.t")}${where}) u
       cross join lateral (
         with recursive prio(p) as (
           (select x.priority from kagzi_runs x
            where x.namespace_id = $1 and x.workflow_type = u.t and x.version = u.v
              and x.status in ('PENDING', 'SLEEPING') and x.available_at < 'infinity'
            order by x.priority desc limit 1)
           union all
           select (select x.priority from kagzi_runs x
                   where x.namespace_id = $1 and x.workflow_type = u.t and x.version = u.v
                     and x.status in ('PENDING', 'SLEEPING') and x.available_at < 'infinity'
                     and x.priority < prio.p
                   order by x.priority desc limit 1)
           from prio where prio.p is not null)
         select r.* from prio cross join lateral (
           select r.namespace_id, r.run_id, r.workflow_type, r.flow_slots, r.flow_held,
                  r.priority, ${resumedOf("r")} as resumed,
                  r.available_at, r.version, r.rate_key, r.rate_limited,
                  ${ratedOf("r")} as rated, ${needsFlowOf("r")} as needs_flow
           from kagzi_runs r
           where r.namespace_id = $1 and r.workflow_type = u.t and r.version = u.v
             and r.status in ('PENDING', 'SLEEPING') and r.priority = prio.p
             and r.available_at <= now() and r.available_at < 'infinity'
           order by r.available_at
           limit $6
           ${lock}) r) r`;

/**
 * The update claiming the runs of relation `due` (columns of {@linkcode dueRuns} and `pos`, the
 * position whose worker `$4[pos]` takes the run): each RUNNING with a new fence and a lease,
 * returning what a worker needs (`ClaimedRow` of store/claim.ts, and `pos`).
 */
export const claimedUpdate = `
       update kagzi_runs r
       set status = 'RUNNING', worker_id = ($4::text[])[due.pos], locked_until = now() + $5 * interval '1 millisecond',
           fence = r.fence + 1, started_at = coalesce(r.started_at, now()), updated_at = now(),
           wake_up_at = null, wake_pending = false, flow_held = r.flow_slots is not null,
           flow_wait = null, debounce_key = null, rate_limited = false
       from due
       left join kagzi_payloads i on i.namespace_id = due.namespace_id and i.run_id = due.run_id
                                 and i.kind = 'input'
       left join kagzi_payloads c on c.namespace_id = due.namespace_id and c.run_id = due.run_id
                                 and c.kind = 'context'
       where r.namespace_id = due.namespace_id and r.run_id = due.run_id
       returning r.run_id::text, r.workflow_id, r.workflow_type, r.version, r.fence::text,
                 r.attempt, r.locked_until, r.retry_policy, due.resumed, i.data as input_data,
                 i.metadata as input_metadata, c.data as context_data,
                 c.metadata as context_metadata, r.traceparent,
                 greatest(0, extract(epoch from now() - due.available_at))::float8 as queued_s,
                 due.pos`;

/**
 * The claim of due runs none of which needs flow control: the statement of `claimRuns` without
 * concurrency slots and rate limits, a fraction of its planning (Postgres plans a claim afresh
 * at each call: its parameters make a custom plan cheaper than a generic one by far). The due
 * runs are read and locked as the full statement reads them, in the same order; when one of
 * them needs a slot (`flow_slots`, not held yet) or a rate limit's token (beginning with a
 * `rate_key`), nothing is claimed and `flow` is true: the full statement decides. Runs under
 * flow control say so in their own rows, so this needs no knowledge of the types' settings.
 * One row with no run when nothing was claimed, as the full statement's; no `held_until`: the
 * full claim that held runs back under a rate limit asked for a wake-up at their turn, and the
 * ticker finds runs coming due anyway.
 */
export const plainClaimStatement = `with
     cand as (
       select r.* from (${dueRuns("for update skip locked")}) r
       order by r.priority desc, r.available_at
       limit $6),
     flow as (
       select exists (select 1 from cand c where c.needs_flow) as needed),
     due as (
       select c.*, row_number() over (order by c.priority desc, c.available_at, c.run_id)::int
                     as pos
       from cand c
       where not (select needed from flow)),
     claimed as (${claimedUpdate})
     select claimed.*, 0 as deferred, (select needed from flow) as flow,
            null::float8 as held_until
     from (select 1) one
     left join claimed on true`;

/**
 * The claim of one run by id for one worker ($1 namespace, $2 run, $3 the versions the worker
 * serves of its type, $4 the worker as a one-element array, $5 the lease in milliseconds): when
 * it is due, of a served version and a type not paused, needs no flow control (as the plain
 * claim) and no other transaction holds it. A run the server itself found due at once (a Sleep
 * whose wake-up had passed) goes so to a poll waiting for its type, as a start is handed over,
 * without the claim's search.
 */
export const claimOneStatement = `with
     due as (
       select r.namespace_id, r.run_id, r.available_at, 1 as pos, ${resumedOf("r")} as resumed
       from kagzi_runs r
       where r.namespace_id = $1 and r.run_id = $2::uuid and r.version = any($3::text[])
         and r.status in ('PENDING', 'SLEEPING') and r.available_at <= now()
         and r.available_at < 'infinity' and not (${needsFlowOf("r")})
         and ${notPaused("r.workflow_type")}
       for update skip locked),
     claimed as (${claimedUpdate})
     select * from claimed`;
