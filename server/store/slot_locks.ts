/**
 * The one order concurrency slots are locked in. A run's end gives its slots back and makes
 * their first waiters due (trigger kagzi_flow_release, migration 0010), locking the slots of
 * that run in slot_key order; a statement ending several runs would lock them run by run, out
 * of order with a claim (store/claim.ts) or another such statement, and the two could wait for
 * each other. Such a statement locks the slots of all its runs first, with this CTE, after the
 * run rows and before any run changes: ends take runs, then slots, then waiters; claims take
 * slots, then runs (skipping those others hold).
 */

/**
 * A CTE `name` locking, in (namespace, type, slot_key) order, the concurrency slots of the runs
 * in relation `runs` (columns namespace_id, workflow_type, flow_slots: the runs' rows as the
 * statement already read them). The statement's update of those runs must read it first
 * ({@linkcode lockedFirst}) so that the slots are locked before the row triggers run.
 */
export const lockSlotsOf = (name: string, runs: string) =>
  `${name} as (
       select f.slot_key from kagzi_flow_slots f
       join (select distinct x.namespace_id, x.workflow_type, s.slot_key
             from ${runs} x cross join lateral unnest(x.flow_slots) s(slot_key)) w
         on w.namespace_id = f.namespace_id and w.workflow_type = f.workflow_type
        and w.slot_key = f.slot_key
       order by f.namespace_id, f.workflow_type, f.slot_key
       for update of f)`;

/** A condition, always true, that makes a statement part wait until CTE `name` has run. */
export const lockedFirst = (name: string) => `(select count(*) from ${name}) >= 0`;
