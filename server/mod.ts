/**
 * The Kagzi server as a library: `createServer(config)` opens the database
 * (a Postgres URL, or the embedded one), applies migrations, starts the
 * engine and returns a `fetch` handler serving `kagzi.v1` over Connect and
 * gRPC-Web, plus the router for a native gRPC (node:http2) listener.
 *
 * @example Serve with Deno.serve
 * ```ts ignore
 * import { createServer, loadConfig } from "@kagzi/server/mod";
 *
 * const server = await createServer(loadConfig({ DATABASE_URL: "postgres://localhost/kagzi" }));
 * Deno.serve({ port: 50051 }, server.fetch);
 * ```
 *
 * @module
 */
import type { ServerConfig } from "./server_config.ts";
import { type KagziServer, startServer } from "./start.ts";

export {
  type ApiKey,
  ConfigError,
  defaults,
  loadConfig,
  parseApiKeys,
  type ServerConfig,
} from "./config.ts";
export type { Logger, LogLevel } from "./log.ts";
export type { KagziServer } from "./start.ts";

export { maxRequestBytes } from "./http/router.ts";

/** Opens the database, migrates it and starts the engine. */
export function createServer(config: ServerConfig): Promise<KagziServer> {
  return startServer(config);
}
