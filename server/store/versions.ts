/** SQL for the namespace's default version of each workflow type. */
import type { Queryable } from "./db.ts";

/** A row of kagzi_default_versions. */
export interface DefaultVersionRow {
  workflow_type: string;
  version: string;
}

/** Sets (or replaces) the default version new runs of a type get. */
export async function setDefaultVersion(
  db: Queryable,
  namespaceId: string,
  workflowType: string,
  version: string,
): Promise<void> {
  await db.query(
    `insert into kagzi_default_versions (namespace_id, workflow_type, version)
     values ($1, $2, $3)
     on conflict (namespace_id, workflow_type)
     do update set version = excluded.version, updated_at = now()`,
    [namespaceId, workflowType, version],
  );
}

/** Every default version of a namespace. */
export async function listDefaultVersions(
  db: Queryable,
  namespaceId: string,
): Promise<DefaultVersionRow[]> {
  return await db.query<DefaultVersionRow>(
    `select workflow_type, version from kagzi_default_versions
     where namespace_id = $1 order by workflow_type`,
    [namespaceId],
  );
}
