/** SQL for the table of live server replicas. */
import type { Queryable } from "./db.ts";

/**
 * Marks this server alive, forgets servers silent for `forgetMs`, and returns
 * how many other servers were seen within `liveMs`.
 */
export async function touchServer(
  db: Queryable,
  serverId: string,
  liveMs: number,
  forgetMs: number,
): Promise<number> {
  const rows = await db.query<{ peers: number }>(
    `with me as (
       insert into kagzi_servers (server_id) values ($1)
       on conflict (server_id) do update set last_seen_at = now()),
     gone as (
       delete from kagzi_servers
       where last_seen_at < now() - $3 * interval '1 millisecond' and server_id <> $1)
     select count(*)::int as peers from kagzi_servers
     where server_id <> $1 and last_seen_at > now() - $2 * interval '1 millisecond'`,
    [serverId, liveMs, forgetMs],
  );
  return rows[0].peers;
}

/** Removes this server (on shutdown). */
export async function removeServer(db: Queryable, serverId: string): Promise<void> {
  await db.query(`delete from kagzi_servers where server_id = $1`, [serverId]);
}
