/**
 * SQL for tokens (migration 0013): a TOKEN step of a held run holds the token's id; it is
 * WAITING until completed or failed by anyone holding the id (an API call, or a POST to its
 * signed URL), with its timeout in `wake_up_at`. Creating, settling and expiring all lock the
 * run's row first, so a completion and the run's wait never miss each other.
 */
import { base64, type Queryable } from "./db.ts";
import type { RunStatus } from "./runs.ts";
import { stepColumns, type StepKey, type StepRow } from "./steps.ts";

/**
 * Creates the token of a held run's TOKEN step once, inside the caller's transaction: the
 * stored step when it exists, else a new WAITING one with a fresh id. Undefined when the lease
 * is lost.
 */
export async function createToken(
  tx: Queryable,
  k: StepKey,
  timeoutAt: Date | null,
): Promise<StepRow | undefined> {
  const held = await tx.query(
    `select 1 from kagzi_runs
     where namespace_id = $1 and run_id = $2 and fence = $3 and status = 'RUNNING' for update`,
    [k.namespaceId, k.runId, k.fence],
  );
  if (!held.length) return undefined;
  const rows = await tx.query<StepRow>(
    `with made as (
       insert into kagzi_steps (namespace_id, run_id, kind, name, occurrence, attempt, status,
                                worker_id, wake_up_at, token_id)
       values ($1, $2, 'TOKEN', $3, $4, 1, 'WAITING', $5, $6, $7)
       on conflict do nothing
       returning ${stepColumns})
     select * from made
     union all
     select ${stepColumns} from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind = 'TOKEN' and name = $3 and occurrence = $4
       and not exists (select 1 from made)`,
    [k.namespaceId, k.runId, k.name, k.occurrence, k.workerId, timeoutAt, crypto.randomUUID()],
  );
  return rows[0];
}

/** A token as listed, with when it was made and the run it belongs to. */
export interface TokenRow extends StepRow {
  namespace_id: string;
  /** WAITING past its timeout. */
  expired: boolean;
}

const tokenColumns = `${stepColumns}, namespace_id,
  (status = 'WAITING' and coalesce(wake_up_at <= now(), false)) as expired`;

/** The token `tokenId` of a namespace, or undefined. */
export async function getToken(
  db: Queryable,
  namespaceId: string,
  tokenId: string,
): Promise<TokenRow | undefined> {
  const rows = await db.query<TokenRow>(
    `select ${tokenColumns} from kagzi_steps
     where namespace_id = $1 and token_id = $2 and kind = 'TOKEN'`,
    [namespaceId, tokenId],
  );
  return rows[0];
}

/** The tokens of a run, oldest first. */
export async function listTokens(
  db: Queryable,
  namespaceId: string,
  runId: string,
): Promise<TokenRow[]> {
  return await db.query<TokenRow>(
    `select ${tokenColumns} from kagzi_steps
     where namespace_id = $1 and run_id = $2 and kind = 'TOKEN'
     order by started_at, name, occurrence`,
    [namespaceId, runId],
  );
}

/** How a token is settled: with a value, or failed with an error (stored as ErrorDetail JSON). */
export type TokenOutcome =
  | { value: { data: Uint8Array; metadata: Record<string, string> } }
  | { error: unknown };

/** What settling a token found. */
export type SettleResult =
  | { kind: "settled"; token: TokenRow; woke: boolean }
  | { kind: "not_found" }
  | { kind: "refused"; token: TokenRow }
  | { kind: "run_ended"; token: TokenRow; status: RunStatus | undefined };

const ended = new Set<RunStatus>(["COMPLETED", "FAILED", "CANCELLED"]);

/**
 * Completes or fails a pending token and wakes its run, inside the caller's transaction. A
 * token already settled, or past its timeout, is refused and unchanged.
 */
export async function settleToken(
  tx: Queryable,
  namespaceId: string,
  tokenId: string,
  outcome: TokenOutcome,
): Promise<SettleResult> {
  const found = await getToken(tx, namespaceId, tokenId);
  if (!found) return { kind: "not_found" };
  if (found.status !== "WAITING" || found.expired) return { kind: "refused", token: found };
  // The run's row first, as every wait of the run locks it: a completion and a wait serialize.
  const [run] = await tx.query<{ status: RunStatus }>(
    `select status from kagzi_runs where namespace_id = $1 and run_id = $2 for update`,
    [namespaceId, found.run_id],
  );
  if (!run || ended.has(run.status)) {
    return { kind: "run_ended", token: found, status: run?.status };
  }
  const value = "value" in outcome ? outcome.value : null;
  const rows = await tx.query<TokenRow>(
    `update kagzi_steps
     set status = $3, output = decode($4, 'base64'), output_metadata = $5::jsonb,
         output_size = coalesce(octet_length(decode($4, 'base64')), 0), error = $6::jsonb,
         finished_at = now()
     where namespace_id = $1 and token_id = $2 and kind = 'TOKEN' and status = 'WAITING'
       and (wake_up_at is null or wake_up_at > now())
     returning ${tokenColumns}`,
    [
      namespaceId,
      tokenId,
      value ? "COMPLETED" : "FAILED",
      value ? base64(value.data) : null,
      value ? value.metadata : null,
      "error" in outcome ? outcome.error : null,
    ],
  );
  const token = rows[0];
  if (!token) return { kind: "refused", token: (await getToken(tx, namespaceId, tokenId))! };
  // Its run resumes (or, held now, resumes after it suspends) and replays with the outcome.
  const woken = await tx.query<{ due: boolean }>(
    `update kagzi_runs r
     set wake_pending = r.status = 'RUNNING',
         available_at = case when r.status in ('PENDING', 'SLEEPING')
                             then least(r.available_at, now()) else r.available_at end,
         wake_up_at = case when r.status in ('PENDING', 'SLEEPING') then null
                           else r.wake_up_at end,
         updated_at = now()
     where r.namespace_id = $1 and r.run_id = $2
       and r.status in ('PENDING', 'RUNNING', 'SLEEPING')
     returning r.status <> 'RUNNING' as due`,
    [namespaceId, token.run_id],
  );
  return { kind: "settled", token, woke: woken[0]?.due ?? false };
}
