/**
 * The claim: due runs of the (type, version) pairs a poll serves, highest priority first and
 * oldest first within one, each with a new fence and a lease, in one statement over the claim
 * index. Flow control is enforced here, with the slot rows it needs locked (in slot_key order,
 * as the end trigger locks them, so neither deadlocks nor misses the other):
 *
 * - a run that holds its slots (claimed before: a sleep, a retry, a lost lease) is claimed;
 * - a run that needs slots is claimed when every slot has room, counting the runs of the batch
 *   ahead of it, and takes them (`used + 1`);
 * - a run one of whose slots is full waits for it: PENDING, out of the claim index
 *   (available_at infinity), `flow_wait` naming the slot, until a holder ends
 *   (kagzi_flow_release, migration 0010) and makes the first waiter due again;
 * - a run that lost only to runs ahead of it in the batch stays due for the next claim
 *   (`deferred` counts them);
 * - a slot the claim looked at that still has room makes its first waiter due (the room an
 *   ended holder made a waiter due for is passed on when that waiter finds another slot full);
 * - a run beginning (first claim) under its type's run rate limit takes a token of its key's
 *   bucket (kagzi_take_token, migration 0011), in claim order; without one it takes no slot and
 *   stays PENDING (`rate_limited`), due again at its turn, which `held_until` reports.
 */
import type { Queryable } from "./db.ts";
import { claimedUpdate, claimOneStatement, dueRuns, plainClaimStatement } from "./claim_sql.ts";
import { lockedFirst } from "./slot_locks.ts";

/** A claimed run, with what a worker needs to execute it. */
export interface ClaimedRow {
  run_id: string;
  workflow_id: string;
  workflow_type: string;
  version: string;
  fence: string;
  attempt: number;
  locked_until: Date;
  retry_policy: unknown;
  /** Claimed before: it may have stored steps. */
  resumed: boolean;
  input_data: Uint8Array | null;
  input_metadata: Record<string, string> | null;
  context_data: Uint8Array | null;
  context_metadata: Record<string, string> | null;
  /** W3C trace context of the start, if any. */
  traceparent: string | null;
  /** Seconds the run waited in the queue since it became due. */
  queued_s: number;
}

/** The statement of {@linkcode claimRuns} (EXPLAIN shows its plan in the README). */
export const claimStatement = `with
     -- The concurrency slots the due runs need, read without locking them (types with slots
     -- only), and then locked, in slot_key order, before any run row is: a claim waiting for a
     -- slot holds no run, so an end holding that slot never waits for it. (A run row the claim
     -- locks and then does not claim stays locked to its end: Postgres locks a row that changed
     -- since the statement began before it finds the row no longer due, e.g. a waiter now. An end
     -- making that waiter due would wait for the claim while the claim waited for the end's slot.)
     wanted as (
       select distinct r.workflow_type, s.slot_key
       from (${
  dueRuns(
    "",
    `
           and exists (select 1 from kagzi_flow_slots f
                       where f.namespace_id = $1 and f.workflow_type = u.t)`,
  )
}) r
       cross join lateral unnest(r.flow_slots) s(slot_key)
       where not r.flow_held),
     slots as (
       select f.workflow_type, f.slot_key, f.cap, f.used from kagzi_flow_slots f
       where f.namespace_id = $1
         and (f.workflow_type, f.slot_key) in (select workflow_type, slot_key from wanted)
       order by f.workflow_type, f.slot_key
       for update),
     -- The due runs, locked (skipping those others hold) once the slots are: then the best of
     -- them. Resumed (its history is sent along): started before, or a retry that may have been
     -- given the stored steps of the run it reruns.
     cand as (
       select r.* from (${
  dueRuns(
    "for update skip locked",
    `
           and ${lockedFirst("slots")}`,
  )
}) r
       order by r.priority desc, r.available_at
       limit $6),
     need as (
       select c.run_id, c.workflow_type, s.slot_key,
              -- One total order for every slot (ties broken by run id): the first run of the
              -- batch is first at each of its slots, so it is claimed or waits, never deferred.
              row_number() over (partition by c.workflow_type, s.slot_key
                                 order by c.priority desc, c.available_at, c.run_id) as rn
       from cand c cross join lateral unnest(c.flow_slots) s(slot_key)
       where not c.flow_held),
     verdict as (
       select n.run_id, bool_and(s.slot_key is not null and n.rn + s.used <= s.cap) as fits,
              min(n.slot_key) filter (where s.used >= s.cap) as full_slot
       from need n left join slots s on s.workflow_type = n.workflow_type
                                    and s.slot_key = n.slot_key
       group by n.run_id),
     -- Tokens of the runs beginning under a run rate limit that have their slots; retry_at is
     -- null for a token taken.
     rate as materialized (
       select c.run_id,
              kagzi_take_token($1, 'run', c.workflow_type, c.rate_key, (l.rl->>'limit')::int,
                               (l.rl->>'periodMs')::float8, now(), c.rate_limited) as retry_at
       from cand c
       left join verdict v on v.run_id = c.run_id
       cross join lateral (
         select f.config->'rateLimit' as rl from kagzi_flow_controls f
         where f.namespace_id = $1 and f.workflow_type = c.workflow_type
         order by f.version = c.version desc, f.updated_at desc limit 1) l
       where c.rated and l.rl is not null and (c.flow_slots is null or c.flow_held or v.fits)
       -- Buckets are locked in key order (claims taking several never deadlock), the runs of
       -- one key in claim order.
       order by c.workflow_type, c.rate_key, c.priority desc, c.available_at),
     held_back as (
       update kagzi_runs r set available_at = rate.retry_at, rate_limited = true,
                               updated_at = now()
       from rate
       where r.namespace_id = $1 and r.run_id = rate.run_id and rate.retry_at is not null
       returning r.available_at),
     take as (
       select n.workflow_type, n.slot_key, count(*)::int as n
       from need n join verdict v on v.run_id = n.run_id and v.fits
       where not exists (select 1 from rate
                         where rate.run_id = n.run_id and rate.retry_at is not null)
       group by n.workflow_type, n.slot_key),
     taken as (
       update kagzi_flow_slots f set used = f.used + t.n
       from take t
       where f.namespace_id = $1 and f.workflow_type = t.workflow_type
         and f.slot_key = t.slot_key),
     -- A slot this claim looked at that still has room hands it to its first waiter: room a
     -- run was made due for but could not use (another of its slots was full) is not lost.
     handoff as (
       update kagzi_runs w set available_at = now(), flow_wait = null, updated_at = now()
       from slots s
       left join take t on t.workflow_type = s.workflow_type and t.slot_key = s.slot_key
       -- The first waiter, unless another transaction holds it: then it is being made due (an
       -- end) or claimed (a claim that read it due and waits for these slots), and waiting for
       -- it here would deadlock with that claim.
       cross join lateral (
         select y.run_id from kagzi_runs y
         where y.namespace_id = $1 and y.run_id = (
           select x.run_id from kagzi_runs x
           where x.namespace_id = $1 and x.workflow_type = s.workflow_type
             and x.flow_wait = s.slot_key and x.status = 'PENDING'
           order by x.priority desc, x.seq limit 1)
         for update skip locked) nx
       where s.used + coalesce(t.n, 0) < s.cap
         and w.namespace_id = $1 and w.run_id = nx.run_id
         and w.status = 'PENDING' and w.flow_wait = s.slot_key),
     waiting as (
       update kagzi_runs r set available_at = 'infinity', flow_wait = v.full_slot,
                               status = 'PENDING', updated_at = now()
       from verdict v
       where r.namespace_id = $1 and r.run_id = v.run_id and not v.fits
         and v.full_slot is not null),
     -- Numbered in claim order: the run at position n goes to the poll $4[n] (several polls'
     -- claims in one statement, each poll's positions as many as its limit).
     due as (
       select c.*, row_number() over (order by c.priority desc, c.available_at, c.run_id)::int
                     as pos
       from cand c left join verdict v on v.run_id = c.run_id
       where (c.flow_slots is null or c.flow_held or v.fits)
         and not exists (select 1 from rate
                         where rate.run_id = c.run_id and rate.retry_at is not null)),
     claimed as (${claimedUpdate})
     -- One row with no run when nothing was claimed: it carries deferred and held_until (the
     -- next turn of a run held back by a rate limit).
     select claimed.*, d.deferred, ceil(extract(epoch from least(
         (select min(available_at) from held_back),
         (select min(available_at) from kagzi_runs
          where namespace_id = $1 and rate_limited and status = 'PENDING'
            and available_at > now()))) * 1000)::float8 as held_until
     from (select (select count(*)::int from verdict where not fits and full_slot is null)
                  -- A whole batch looked at, some held back: more may be due behind it.
                  + case when (select count(*) from cand) >= $6
                              and exists (select 1 from held_back) then 1 else 0 end
                  as deferred) d
     left join claimed on true`;

/** One poll's share of a claim: its worker and how many runs it takes at most. */
export interface ClaimAsk {
  workerId: string;
  limit: number;
}

/** How {@linkcode claimRuns} claims. */
export interface ClaimOptions {
  /** Told when the next run held back by a run rate limit is due (to wake a poll then). */
  onHeldBack?: (at: Date) => void;
  /**
   * The full statement at once, without trying the plain one first: the last claim of these
   * types found runs under flow control.
   */
  full?: boolean;
}

/**
 * Claims due runs of the given (type, version) pairs for the polls `asks`, in one statement,
 * skipping rows other claimers hold: the due runs in claim order go to the first ask up to its
 * limit, then to the next (`runs[i]` for `asks[i]`), each locked to its ask's worker with a new
 * fencing number. `deferred` counts the runs left due because runs ahead of them in this claim
 * took the room of a concurrency slot (plus one when a whole batch was looked at and runs were
 * held back by a rate limit). The plain statement (`plainClaimStatement`) claims first; when a
 * due run needs flow control, the full one (`flow` is then true). `db` is not a transaction:
 * the rows the plain statement locked are let go before the full one locks slots, then runs.
 */
export async function claimRuns(
  db: Queryable,
  namespaceId: string,
  types: string[],
  versions: string[],
  asks: ClaimAsk[],
  leaseMs: number,
  options: ClaimOptions = {},
): Promise<{ runs: ClaimedRow[][]; deferred: number; flow: boolean }> {
  // Per position (1-based in the statement), the worker it is locked to and the ask it answers.
  const owners: string[] = [];
  const askOf: number[] = [];
  asks.forEach((a, i) => {
    for (let k = 0; k < a.limit; k++) {
      owners.push(a.workerId);
      askOf.push(i);
    }
  });
  type Row = ClaimedRow & {
    pos: number | null;
    deferred: number;
    held_until: number | null;
    flow?: boolean;
  };
  const params = [namespaceId, types, versions, owners, leaseMs, owners.length];
  let rows = options.full ? [] : await db.query<Row>(plainClaimStatement, params);
  const flow = options.full || rows[0]?.flow === true;
  if (flow) rows = await db.query<Row>(claimStatement, params);
  const heldUntil = rows[0]?.held_until;
  // In whole milliseconds, rounded up: a wake-up before the turn would find nothing due.
  if (heldUntil && options.onHeldBack) options.onHeldBack(new Date(heldUntil));
  const runs: ClaimedRow[][] = asks.map(() => []);
  rows.sort((a, b) => (a.pos ?? 0) - (b.pos ?? 0));
  for (const { held_until: _, deferred: _d, flow: _f, pos, ...r } of rows) {
    if (r.run_id !== null && pos !== null) runs[askOf[pos - 1]].push(r);
  }
  return { runs, deferred: rows[0]?.deferred ?? 0, flow };
}

/**
 * Claims run `runId` for `workerId` when it is due and needs nothing of the claim's search
 * (`claimOneStatement`): a served version, a type not paused, no flow control, not held by
 * another transaction. Undefined otherwise (the claim then finds it as any due run).
 */
export async function claimRun(
  db: Queryable,
  namespaceId: string,
  runId: string,
  versions: string[],
  workerId: string,
  leaseMs: number,
): Promise<ClaimedRow | undefined> {
  const rows = await db.query<ClaimedRow & { pos: number }>(
    claimOneStatement,
    [namespaceId, runId, versions, [workerId], leaseMs],
  );
  if (!rows[0]) return undefined;
  const { pos: _, ...row } = rows[0];
  return row;
}
