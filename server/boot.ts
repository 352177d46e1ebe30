/**
 * What both entry points (`server/main.ts` and `server/serve.ts`) do first: register the
 * serverless maintenance cron job (synchronously, before any await, as Deno Deploy requires),
 * then read the settings and start the server, exiting with a clear message on failure.
 *
 * @module
 */
import {
  ConfigError,
  createServer,
  type KagziServer,
  loadConfig,
  type ServerConfig,
} from "./mod.ts";
import { isServerless } from "./serverless_config.ts";
import { registerMaintenanceCron } from "./deploy.ts";
import { usage } from "./usage.ts";

/** Prints `kagzi: <message>` and exits with status 1. */
export function fail(message: string): never {
  console.error(`kagzi: ${message}`);
  Deno.exit(1);
}

/** The started server, its settings, and the cron job when in serverless mode. */
export interface Booted {
  config: ServerConfig;
  server: KagziServer;
  cron: ReturnType<typeof registerMaintenanceCron> | undefined;
}

/** Registers the cron job (serverless mode), loads the settings and starts the server. */
export function boot(): Promise<Booted> {
  // Deno Deploy discovers cron jobs by running the module's top level before it serves:
  // register the maintenance job first, before anything can fail.
  const cron = isServerless(Deno.env.toObject(), Deno.args.includes("--serverless") || undefined)
    ? registerMaintenanceCron()
    : undefined;
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(usage());
    Deno.exit(0);
  }
  let config: ServerConfig;
  try {
    config = loadConfig(Deno.env.toObject(), Deno.args);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }
  return createServer(config).then(
    (server) => ({ config, server, cron }),
    (err) => fail(`cannot start: ${(err as Error).message}`),
  );
}
