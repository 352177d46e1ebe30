/**
 * Settings of serverless mode (Deno Deploy and similar hosts): its defaults, the Postgres URL
 * built from libpq's `PG*` variables, and what the mode requires.
 */
import type { ServerConfig } from "./server_config.ts";

/**
 * Whether serverless mode is asked for: by the `--serverless` flag, else by
 * `KAGZI_SERVERLESS`, else by `DENO_DEPLOY=true` (set by Deno Deploy).
 */
export function isServerless(
  env: Record<string, string | undefined>,
  flag: boolean | undefined,
): boolean {
  if (flag !== undefined) return flag;
  return /^(true|1)$/i.test((env.KAGZI_SERVERLESS ?? env.DENO_DEPLOY ?? "").trim());
}

/**
 * The defaults in serverless mode, over `base`: listen where the platform routes requests
 * (`PORT`, else 8000, on every interface), no native gRPC, no migrations at start (a pre-deploy
 * command runs them), a small pool per instance and waits shorter than platform request limits.
 */
export function serverlessBase(
  base: ServerConfig,
  env: Record<string, string | undefined>,
): ServerConfig {
  const port = Number(env.PORT);
  return {
    ...base,
    serverless: true,
    host: "0.0.0.0",
    port: /^\d+$/.test(env.PORT ?? "") && port <= 65535 ? port : 8000,
    grpcPort: 0,
    migrate: false,
    poolSize: 4,
    pollTimeoutMs: 25_000,
    maxWaitMs: 25_000,
  };
}

/** Why `config` cannot run in serverless mode, or undefined when it can. */
export function serverlessProblem(config: ServerConfig): string | undefined {
  if (!config.databaseUrl) {
    return "Serverless mode (DENO_DEPLOY=true, --serverless or KAGZI_SERVERLESS=true) needs a " +
      "Postgres: set DATABASE_URL (or --database-url, or PGHOST with PGUSER, PGPASSWORD, " +
      "PGDATABASE and PGPORT); the embedded database cannot be used because an instance's disk " +
      "is neither shared with other instances nor durable";
  }
  if (config.grpcPort !== 0) {
    return `Invalid --grpc-port / KAGZI_GRPC_PORT: "${config.grpcPort}": native gRPC needs a ` +
      "node:http2 listener, which serverless hosts such as Deno Deploy do not offer; leave it " +
      "unset (Connect and gRPC-Web are served on the HTTP port)";
  }
  return undefined;
}

/**
 * A `postgres://` URL from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` and
 * `PGSSLMODE` (as Deno Deploy's database integration and libpq tools set them), or "" when
 * `PGHOST` is unset or a socket path.
 */
export function postgresUrlFromPgEnv(env: Record<string, string | undefined>): string {
  const host = env.PGHOST?.trim();
  if (!host || host.startsWith("/")) return "";
  const enc = encodeURIComponent;
  const user = env.PGUSER || env.PGUSERNAME || "postgres";
  const password = env.PGPASSWORD ? `:${enc(env.PGPASSWORD)}` : "";
  const port = env.PGPORT ? `:${env.PGPORT}` : "";
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const url = `postgres://${enc(user)}${password}@${hostPart}${port}/${
    enc(env.PGDATABASE || user)
  }`;
  return env.PGSSLMODE ? `${url}?sslmode=${enc(env.PGSSLMODE)}` : url;
}
