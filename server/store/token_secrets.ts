/**
 * SQL for the secrets token URLs are signed with (migration 0013): server-wide, never deleted
 * here. The first is made on first use; a rotation adds the next id.
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

/** Adds a secret after the newest; its id, or undefined when another rotation took that id. */
export async function addSecret(db: Queryable, fresh: Uint8Array): Promise<number | undefined> {
  const rows = await db.query<{ secret_id: number }>(
    `insert into kagzi_token_secrets (secret_id, secret)
     select coalesce(max(secret_id), 0) + 1, decode($1, 'base64') from kagzi_token_secrets
     on conflict do nothing
     returning secret_id`,
    [base64(fresh)],
  );
  return rows[0]?.secret_id;
}
