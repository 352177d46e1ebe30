import type { Db } from "./db.ts";
import { type Migration, migrations as shipped } from "./migrations.gen.ts";

/** Applies every migration not yet recorded, in order; safe when several servers start at once. */
export async function migrate(db: Db, migrations: Migration[] = shipped): Promise<number[]> {
  return await db.transaction(async (tx) => {
    // One migrator at a time across servers; the lock ends with the transaction.
    await tx.query("select pg_advisory_xact_lock(7245100923)");
    await tx.query(
      `create table if not exists kagzi_migrations (
         version    integer primary key,
         name       text not null,
         applied_at timestamptz not null default now())`,
    );
    const rows = await tx.query<{ version: number }>("select version from kagzi_migrations");
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await tx.execute(m.sql);
      await tx.query("insert into kagzi_migrations (version, name) values ($1, $2)", [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}
