/**
 * The entry point for `deno serve -A server/serve.ts`: `deno serve` listens (on its `--host` and
 * `--port`) and calls this module's `fetch` export, which serves Connect and gRPC-Web (native gRPC
 * needs the `node:http2` listener of `server/main.ts`). Settings come from the environment as for
 * `server/main.ts`; `DENO_DEPLOY=true` or `KAGZI_SERVERLESS=true` select serverless mode.
 *
 * @example Serve on port 8000 with the embedded database
 * ```sh
 * deno serve -A --port 8000 server/serve.ts
 * ```
 *
 * @module
 */
import { ConfigError, createServer, type KagziServer, loadConfig } from "./mod.ts";
import { registerMaintenanceCron } from "./deploy.ts";

function fail(message: string): never {
  console.error(`kagzi: ${message}`);
  Deno.exit(1);
}

let config;
try {
  config = loadConfig(Deno.env.toObject(), Deno.args);
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}

// Deno Deploy finds cron jobs by running the top level, before serving: register it first.
const cron = config.serverless ? registerMaintenanceCron() : undefined;

let server: KagziServer;
try {
  server = await createServer(config);
} catch (err) {
  fail(`cannot start: ${(err as Error).message}`);
}
cron?.attach(server);

// `deno serve` stops listening on SIGINT/SIGTERM; the engine and the database close here.
const stop = async () => {
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

/** The handler `deno serve` calls. */
export default {
  fetch: (req: Request): Promise<Response> => server.fetch(req),
} satisfies Deno.ServeDefaultExport;
