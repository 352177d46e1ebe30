/** SQL for debounced starts: a later start with the key joins the pending run and delays it. */
import type { Queryable } from "./db.ts";
import type { StartFlow } from "./run_starts.ts";

/**
 * Joins the pending debounced run of (type, key), if any: its input becomes `input` (the last
 * one wins), its flow keys those of the new input, and it becomes due `periodMs` from now, but
 * no later than its first start plus maxWait. Undefined when there is no such run.
 */
export async function joinDebounced(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  key: string,
  periodMs: number,
  input: { data: Uint8Array; metadata: Record<string, string> },
  flow: StartFlow,
): Promise<{ run_id: string; workflow_id: string } | undefined> {
  const rows = await db.query<{ run_id: string; workflow_id: string }>(
    `with run as (
       update kagzi_runs r
       set available_at = least(now() + $4::int * interval '1 millisecond', r.debounce_until),
           priority = $7, flow_slots = $8::text[], rate_key = $10, updated_at = now()
       where r.namespace_id = $1 and r.workflow_type = $2 and r.debounce_key = $3
         and r.status = 'PENDING'
       returning r.namespace_id, r.run_id, r.workflow_id),
     payload as (
       update kagzi_payloads p set data = $5, metadata = $6::jsonb
       from run where p.namespace_id = run.namespace_id and p.run_id = run.run_id
         and p.kind = 'input'),
     slot_rows as (
       insert into kagzi_flow_slots (namespace_id, workflow_type, slot_key, cap)
       select $1, $2, s.k, s.c from run, unnest($8::text[], $9::int[]) s(k, c)
       order by s.k
       on conflict do nothing)
     select run_id::text, workflow_id from run`,
    [
      namespaceId,
      workflowType,
      key,
      periodMs,
      input.data,
      input.metadata,
      flow.priority,
      flow.slots,
      flow.caps,
      flow.rateKey,
    ],
  );
  return rows[0];
}
