/**
 * Applies the database migrations and exits: `deno task migrate`, the pre-deploy command of
 * serverless deployments (serverless instances do not migrate at start). The database is
 * `--database-url` / `DATABASE_URL`, or the libpq variables `PGHOST`, `PGUSER`, `PGPASSWORD`,
 * `PGDATABASE`, `PGPORT`. Safe to run while servers are running and from several places at once.
 *
 * @example
 * ```sh
 * DATABASE_URL=postgres://user:pass@host/db deno task migrate
 * ```
 *
 * @module
 */
import { ConfigError, loadConfig } from "./config.ts";
import { connectPostgres } from "./store/db.ts";
import { migrate } from "./store/migrate.ts";
import { postgresUrlFromPgEnv } from "./serverless_config.ts";

const env = Deno.env.toObject();
let url: string;
try {
  const config = loadConfig(
    { ...env, DENO_DEPLOY: undefined, KAGZI_SERVERLESS: undefined },
    Deno.args,
  );
  url = config.databaseUrl || postgresUrlFromPgEnv(env);
} catch (err) {
  console.error(`kagzi migrate: ${err instanceof ConfigError ? err.message : String(err)}`);
  Deno.exit(1);
}
if (!url) {
  console.error(
    "kagzi migrate: no database: set DATABASE_URL (or --database-url, or PGHOST with PGUSER, " +
      "PGPASSWORD, PGDATABASE and PGPORT)",
  );
  Deno.exit(1);
}
const db = connectPostgres(url, { max: 1 });
try {
  const applied = await migrate(db);
  console.log(
    applied.length
      ? `kagzi migrate: applied ${applied.join(", ")}`
      : "kagzi migrate: the database is up to date",
  );
} catch (err) {
  console.error(`kagzi migrate: failed: ${(err as Error).message}`);
  Deno.exitCode = 1;
} finally {
  await db.close();
}
