/** Lease facts read straight from Postgres, for the crash tests. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { waitFor } from "./_worker.ts";

/**
 * Watches a running run's lease until heartbeats have extended it twice, then asserts it ends
 * within one lease of the database's now: each heartbeat sets it to now + lease, never further
 * (the Rust Kagzi's lease drift extended it from its old end, one lease per heartbeat).
 */
export async function assertNoLeaseDrift(
  databaseUrl: string,
  runId: string,
  leaseMs: number,
): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const seen = new Set<number>();
    let ahead = 0;
    await waitFor("two lease extensions", async () => {
      const [r] = await sql`
        select locked_until, (extract(epoch from locked_until - now()) * 1000)::float8 as ahead
        from kagzi_runs where run_id = ${runId} and status = 'RUNNING'`;
      if (r?.locked_until) {
        seen.add((r.locked_until as Date).getTime());
        ahead = r.ahead;
      }
      return seen.size >= 3;
    });
    assert.ok(ahead <= leaseMs, `the lease ends ${ahead} ms from now (lease ${leaseMs} ms)`);
  } finally {
    await sql.end();
  }
}
