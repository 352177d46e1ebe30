/**
 * SQL for the secrets token URLs are signed with (migration 0013): server-wide. The first is
 * made on first use; a rotation adds the next id and, when asked, deletes every older one in the
 * same statement (revocation: a URL naming a deleted secret is refused).
 */
import { base64, type Queryable } from "./db.ts";

/** A row of kagzi_token_secrets. */
export interface TokenSecretRow {
  secret_id: number;
  secret: Uint8Array;
}

/** Every secret, newest first; makes the first one (with `fresh`) when there is none. */
export async function loadSecrets(db: Queryable, fresh: Uint8Array): Promise<TokenSecretRow[]> {
  const rows = await db.query<TokenSecretRow>(
    `with first as (
       insert into kagzi_token_secrets (secret_id, secret)
       select 1, decode($1, 'base64') where not exists (select 1 from kagzi_token_secrets)
       on conflict do nothing
       returning secret_id, secret)
     select secret_id, secret from first
     union all
     select secret_id, secret from kagzi_token_secrets
     order by secret_id desc`,
    [base64(fresh)],
  );
  return rows;
}

/** The id of the newest secret; undefined when there is none yet. */
export async function newestSecretId(db: Queryable): Promise<number | undefined> {
  const rows = await db.query<{ secret_id: number | null }>(
    `select max(secret_id) as secret_id from kagzi_token_secrets`,
  );
  return rows[0]?.secret_id ?? undefined;
}

/** Whether secret `secretId` still exists (not retired by a rotation). */
export async function secretExists(db: Queryable, secretId: number): Promise<boolean> {
  const rows = await db.query(`select 1 from kagzi_token_secrets where secret_id = $1`, [
    secretId,
  ]);
  return rows.length > 0;
}

/**
 * Like {@linkcode secretExists}, inside the caller's transaction, holding a key-share lock on the
 * secret's row until it ends: a rotation retiring the secret waits for that transaction, and one
 * that retired it first makes this false.
 */
export async function lockSecret(tx: Queryable, secretId: number): Promise<boolean> {
  const rows = await tx.query(
    `select 1 from kagzi_token_secrets where secret_id = $1 for key share`,
    [secretId],
  );
  return rows.length > 0;
}

/** What {@linkcode addSecret} did. */
export interface AddedSecret {
  /** The new secret's id. */
  secret_id: number;
  /** How many older secrets it deleted. */
  retired: number;
}

/**
 * Adds a secret after the newest and, with `retireOlder`, deletes every older one in the same
 * statement; undefined (nothing changed) when another rotation took that id.
 */
export async function addSecret(
  db: Queryable,
  fresh: Uint8Array,
  retireOlder: boolean,
): Promise<AddedSecret | undefined> {
  const rows = await db.query<AddedSecret>(
    `with made as (
       insert into kagzi_token_secrets (secret_id, secret)
       select coalesce(max(secret_id), 0) + 1, decode($1, 'base64') from kagzi_token_secrets
       on conflict do nothing
       returning secret_id),
     gone as (
       delete from kagzi_token_secrets
       where $2::boolean and secret_id < (select secret_id from made)
       returning 1)
     select secret_id, (select count(*) from gone)::int as retired from made`,
    [base64(fresh), retireOlder],
  );
  return rows[0];
}
