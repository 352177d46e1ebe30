/**
 * SQL for starting runs: a batch of starts in one statement (`insertRuns`) and its twin for a
 * lone start (`insertRun`), each storing the run with its input and context payloads.
 */
import { base64, type Queryable } from "./db.ts";
import type { RunStatus } from "./runs.ts";

/** What a start does when a retained run already has its workflow id (see migration 0008). */
export type OnDuplicate = "return-existing" | "allow-after-failure" | "allow-after-end" | "fail";

/**
 * The condition under which a start with mode `mode` inserts, given the newest retained run
 * under its workflow id (`gen`, `status`: null when there is none).
 */
function mayInsert(mode: string, gen: string, status: string): string {
  return `(${gen} is null
     or (${mode} = 'allow-after-end' and ${status} in ('COMPLETED', 'FAILED', 'CANCELLED'))
     or (${mode} = 'allow-after-failure' and ${status} in ('FAILED', 'CANCELLED')))`;
}

/** What StartWorkflow stores. */
export interface NewRun {
  namespaceId: string;
  runId: string;
  workflowId: string;
  workflowType: string;
  version: string;
  deadlineAt: Date | null;
  retryPolicy: unknown;
  input: { data: Uint8Array; metadata: Record<string, string> };
  context: { data: Uint8Array; metadata: Record<string, string> } | null;
  scheduleId: string | null;
  /** W3C trace context of the caller. @default null */
  traceparent?: string | null;
  /**
   * Sync match: store the run already claimed by this waiting worker when its version is one
   * the worker serves (else it is stored PENDING as usual).
   */
  claim?: { workerId: string; versions: string[]; leaseMs: number } | null;
  /** When a retained run has the workflow id. @default "return-existing" */
  onDuplicate?: OnDuplicate;
  /** Searchable attributes. @default {} */
  tags?: Record<string, string>;
  /** Its flow control, evaluated from its input (services/_flow_keys.ts). @default none */
  flow?: StartFlow;
  /** A debounced start: due `periodMs` from now (insertRun only). @default none */
  debounce?: { key: string; periodMs: number; maxWaitMs: number | null };
}

/** The flow control a start stores with its run. */
export interface StartFlow {
  priority: number;
  /** Concurrency slots it needs (sorted), with their limits; null: none. */
  slots: string[] | null;
  caps: number[];
  rateKey: string | null;
}

/** Slot rows for a start's slots (the first start of a key creates its row; sorted, no lock). */
const slotRows = (ns: string, type: string, slots: string, caps: string, from: string) =>
  `slot_rows as (
     insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap)
     select distinct on (${ns}, ${type}, s.k) ${ns}, ${type}, s.k, s.c
     from ${from} cross join lateral unnest(${slots}, ${caps}) s(k, c)
     order by ${ns}, ${type}, s.k
     on conflict do nothing)`;

/** What {@linkcode insertRuns} stored for an item. */
export interface InsertedRun {
  run_id: string;
  status: RunStatus;
  /** The version stored (the default version when none was asked for). */
  version: string;
  /** Claimed by `claim.workerId` (RUNNING): the fence and lease of that claim. */
  fence: string;
  locked_until: Date | null;
}

/**
 * Inserts PENDING runs with their payloads in one statement; a run whose workflow_id is kept
 * by a retained run its `onDuplicate` does not start past (or by an earlier item of the same
 * call) is skipped. Per item: the stored status, or undefined when skipped.
 */
export async function insertRuns(
  db: Queryable,
  items: NewRun[],
): Promise<(InsertedRun | undefined)[]> {
  if (items.length === 1) return [await insertRun(db, items[0])];
  const rows = await db.query<InsertedRun>(
    `with input as (
       select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                            $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                            $16::int[], $17::text[], $18::text[], $19::int[], $20::text[],
                            $21::text[], $22::text[])
         with ordinality as i(namespace_id, run_id, workflow_id, workflow_type, version,
                              deadline_at, retry_policy, schedule_id, input, input_metadata,
                              context, context_metadata, traceparent, claim_worker,
                              claim_versions, lease_ms, on_duplicate, tags, priority,
                              flow_slots, flow_caps, rate_key, idx)),
     resolved as (
       select i.*, v.version as stored_version, l.last_gen, l.last_status,
              coalesce(i.claim_worker is not null
                       and (i.claim_versions::jsonb ? v.version), false)
                and not exists (select 1 from kagzi_paused_types p
                                where p.namespace_id = i.namespace_id
                                  and p.workflow_type = i.workflow_type) as handed
       from input i
       left join kagzi_default_versions d on d.namespace_id = i.namespace_id
                                          and d.workflow_type = i.workflow_type
       cross join lateral (select coalesce(nullif(i.version, ''), d.version, '') as version) v
       left join lateral (select x.id_generation as last_gen, x.status as last_status
                          from kagzi_runs x
                          where x.namespace_id = i.namespace_id and x.workflow_id = i.workflow_id
                          order by x.id_generation desc limit 1) l on true),
     ins as (
       insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version, status,
                               deadline_at, retry_policy, schedule_id, traceparent, worker_id,
                               locked_until, fence, started_at, id_generation, tags, priority,
                               flow_slots, rate_key)
       select i.namespace_id, i.run_id, i.workflow_id, i.workflow_type, i.stored_version,
              case when i.handed then 'RUNNING' else 'PENDING' end,
              i.deadline_at::timestamptz, i.retry_policy::jsonb, i.schedule_id, i.traceparent,
              case when i.handed then i.claim_worker end,
              case when i.handed then now() + i.lease_ms * interval '1 millisecond' end,
              case when i.handed then 1 else 0 end,
              case when i.handed then now() end,
              coalesce(i.last_gen + 1, 0), i.tags::jsonb, coalesce(i.priority, 0),
              (select array_agg(x) from jsonb_array_elements_text(i.flow_slots::jsonb) x),
              i.rate_key
       from resolved i
       where ${mayInsert("i.on_duplicate", "i.last_gen", "i.last_status")}
       order by i.idx
       on conflict do nothing
       returning namespace_id, run_id, status, version, fence, locked_until),
     payloads as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select ins.namespace_id, ins.run_id, 'input', decode(i.input, 'base64'), i.input_metadata::jsonb
       from ins join input i on i.run_id = ins.run_id
       union all
       select ins.namespace_id, ins.run_id, 'context', decode(i.context, 'base64'),
              i.context_metadata::jsonb
       from ins join input i on i.run_id = ins.run_id where i.context is not null),
     flow as (
       select i.namespace_id, i.workflow_type,
              array(select jsonb_array_elements_text(i.flow_slots::jsonb)) as slots,
              array(select jsonb_array_elements_text(i.flow_caps::jsonb)::int) as caps
       from ins join input i on i.run_id = ins.run_id where i.flow_slots is not null),
     ${slotRows("flow.namespace_id", "flow.workflow_type", "flow.slots", "flow.caps", "flow")}
     select run_id::text, status, version, fence::text, locked_until from ins`,
    [
      items.map((r) => r.namespaceId),
      items.map((r) => r.runId),
      items.map((r) => r.workflowId),
      items.map((r) => r.workflowType),
      items.map((r) => r.version),
      items.map((r) => r.deadlineAt?.toISOString() ?? null),
      items.map((r) => (r.retryPolicy == null ? null : JSON.stringify(r.retryPolicy))),
      items.map((r) => r.scheduleId),
      items.map((r) => base64(r.input.data)),
      items.map((r) => JSON.stringify(r.input.metadata)),
      items.map((r) => (r.context ? base64(r.context.data) : null)),
      items.map((r) => JSON.stringify(r.context?.metadata ?? {})),
      items.map((r) => r.traceparent ?? null),
      items.map((r) => r.claim?.workerId ?? null),
      items.map((r) => (r.claim ? JSON.stringify(r.claim.versions) : null)),
      items.map((r) => r.claim?.leaseMs ?? 0),
      items.map((r) => r.onDuplicate ?? "return-existing"),
      items.map((r) => JSON.stringify(r.tags ?? {})),
      items.map((r) => r.flow?.priority ?? 0),
      items.map((r) => (r.flow?.slots ? JSON.stringify(r.flow.slots) : null)),
      items.map((r) => (r.flow?.slots ? JSON.stringify(r.flow.caps) : null)),
      items.map((r) => r.flow?.rateKey ?? null),
    ],
  );
  const byId = new Map(rows.map((r) => [r.run_id, r]));
  return items.map((r) => byId.get(r.runId));
}

/**
 * Inserts one run: {@linkcode insertRuns}'s statement without the arrays (about 0.25 ms less on
 * the critical path of a lone start, which is what a run not under load writes).
 */
export async function insertRun(db: Queryable, r: NewRun): Promise<InsertedRun | undefined> {
  const rows = await db.query<InsertedRun>(
    `with v as (
       select coalesce(nullif($5, ''), (select d.version from kagzi_default_versions d
                                         where d.namespace_id = $1 and d.workflow_type = $4),
                       '') as version),
     h as (
       select v.version, coalesce($14::text is not null and ($15::jsonb ? v.version), false)
                           and not exists (select 1 from kagzi_paused_types p
                                           where p.namespace_id = $1 and p.workflow_type = $4)
                           as handed
       from v),
     last as (
       select x.id_generation, x.status from kagzi_runs x
       where x.namespace_id = $1 and x.workflow_id = $3
       order by x.id_generation desc limit 1),
     ins as (
       insert into kagzi_runs (namespace_id, run_id, workflow_id, workflow_type, version, status,
                               deadline_at, retry_policy, schedule_id, traceparent, worker_id,
                               locked_until, fence, started_at, id_generation, tags, priority,
                               flow_slots, rate_key, debounce_key, available_at, debounce_until)
       select $1, $2, $3, $4, h.version, case when h.handed then 'RUNNING' else 'PENDING' end,
              $6::timestamptz, $7::jsonb, $8, $13,
              case when h.handed then $14 end,
              case when h.handed then now() + $16 * interval '1 millisecond' end,
              case when h.handed then 1 else 0 end,
              case when h.handed then now() end,
              coalesce((select id_generation + 1 from last), 0), $18::jsonb, $19, $20::text[],
              $22, $23::text, now() + $24::int * interval '1 millisecond',
              now() + $25::bigint * interval '1 millisecond'
       from h
       where ${
      mayInsert("$17::text", "(select id_generation from last)", "(select status from last)")
    }
       on conflict do nothing
       returning namespace_id, run_id, status, version, fence, locked_until),
     payloads as (
       insert into kagzi_payloads (namespace_id, run_id, kind, data, metadata)
       select ins.namespace_id, ins.run_id, 'input', $9, $10::jsonb from ins
       union all
       select ins.namespace_id, ins.run_id, 'context', $11, $12::jsonb from ins
       where $11::bytea is not null),
     ${slotRows("$1", "$4", "$20::text[]", "$21::int[]", "ins")}
     select run_id::text, status, version, fence::text, locked_until from ins`,
    [
      r.namespaceId,
      r.runId,
      r.workflowId,
      r.workflowType,
      r.version,
      r.deadlineAt?.toISOString() ?? null,
      // jsonb parameters: postgres.js serializes the values itself.
      r.retryPolicy ?? null,
      r.scheduleId,
      r.input.data,
      r.input.metadata,
      r.context?.data ?? null,
      r.context?.metadata ?? {},
      r.traceparent ?? null,
      r.claim?.workerId ?? null,
      r.claim?.versions ?? null,
      r.claim?.leaseMs ?? 0,
      r.onDuplicate ?? "return-existing",
      r.tags ?? {},
      r.flow?.priority ?? 0,
      r.flow?.slots ?? null,
      r.flow?.caps ?? [],
      r.flow?.rateKey ?? null,
      r.debounce?.key ?? null,
      r.debounce?.periodMs ?? 0,
      r.debounce?.maxWaitMs ?? null,
    ],
  );
  return rows[0];
}
