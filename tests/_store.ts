/**
 * A migrated database of a backend for tests that drive the store directly: a fresh Postgres
 * database (dropped on dispose) or an embedded one in a temporary directory (removed on dispose).
 */
import { connectPostgres, type Db } from "../server/store/db.ts";
import { startEmbedded } from "../server/store/embedded.ts";
import { migrate } from "../server/store/migrate.ts";
import { type Backend, freshDatabase } from "./_db.ts";
import { migratedDataDir } from "./_pgdata.ts";

/** Opens and migrates a database of `backend`; closed and removed on dispose. */
export async function openStore(backend: Backend): Promise<Db & AsyncDisposable> {
  let close: () => Promise<void>;
  let db: Db;
  if (backend === "postgres") {
    const fresh = await freshDatabase();
    db = connectPostgres(fresh.url, { max: 4 });
    close = async () => await fresh[Symbol.asyncDispose]();
  } else {
    const dataDir = await migratedDataDir("kagzi_store_");
    const embedded = await startEmbedded({ dataDir });
    db = connectPostgres(embedded.url, { max: 1, crossProcessNotify: false });
    close = async () => {
      await embedded.close();
      await Deno.remove(dataDir, { recursive: true });
    };
  }
  await migrate(db);
  return Object.assign(db, {
    async [Symbol.asyncDispose]() {
      await db.close();
      await close();
    },
  });
}
