/**
 * The Kagzi server entry point: `deno run -A server/main.ts` (or `deno task start`)
 * serves `kagzi.v1` with Connect and gRPC-Web on `--port` (HTTP/1.1 and h2c) and
 * native gRPC on `--grpc-port` (node:http2). With `DENO_DEPLOY=true` (Deno Deploy) or
 * `--serverless` it serves in serverless mode instead (see `deploy.ts`). `deno serve`
 * runs `server/serve.ts`.
 *
 * @example Start with the embedded database
 * ```sh
 * deno run -A server/main.ts --port 50051
 * ```
 *
 * @module
 */
import * as http2 from "node:http2";
import { ConfigError, createServer, type KagziServer, loadConfig } from "./mod.ts";
import { SERVER_VERSION } from "./version.ts";
import { isServerless } from "./serverless_config.ts";
import { registerMaintenanceCron, serveServerless } from "./deploy.ts";

function fail(message: string): never {
  console.error(`kagzi: ${message}`);
  Deno.exit(1);
}

// Deno Deploy discovers cron jobs by running the module's top level before it serves:
// register the maintenance job first, before anything can fail.
const cron = isServerless(Deno.env.toObject(), Deno.args.includes("--serverless") || undefined)
  ? registerMaintenanceCron()
  : undefined;

let config;
try {
  config = loadConfig(Deno.env.toObject(), Deno.args);
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err));
}

let server: KagziServer;
try {
  server = await createServer(config);
} catch (err) {
  fail(`cannot start: ${(err as Error).message}`);
}

if (cron) {
  cron.attach(server);
  serveServerless(server, config, { cron: cron.registered });
} else {
  const abort = new AbortController();
  const http = Deno.serve({
    hostname: config.host,
    port: config.port,
    signal: abort.signal,
    onListen: () => {},
    onError: (err) => {
      server.log.error("request failed", err);
      return new Response("internal error", { status: 500 });
    },
  }, server.fetch);
  let grpc: http2.Http2Server | undefined;
  let grpcPort = 0;
  if (config.grpcPort !== 0) {
    grpc = http2.createServer(server.http2Handler);
    await new Promise<void>((resolve, reject) => {
      grpc!.once("error", reject);
      grpc!.listen(config.grpcPort, config.host, () => resolve());
    }).catch((err) =>
      fail(`cannot listen for gRPC on ${config.host}:${config.grpcPort}: ${err.message}`)
    );
    grpcPort = (grpc.address() as { port: number }).port;
  }
  const where = config.databaseUrl ? "postgres" : `embedded, ${config.dataDir}`;
  console.log(
    `kagzi ${SERVER_VERSION} ready: connect+grpc-web http://${config.host}:${http.addr.port}` +
      (grpc ? `, grpc http://${config.host}:${grpcPort}` : "") + ` (database: ${where})`,
  );
  if (config.apiKeys.length === 0 && !["127.0.0.1", "localhost", "::1"].includes(config.host)) {
    server.log.warn(
      `listening on ${config.host} without API keys: anyone who reaches this port can call it ` +
        "(set --api-keys / KAGZI_API_KEYS)",
    );
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.log.info("shutting down");
    abort.abort();
    grpc?.close();
    await Promise.race([http.finished, new Promise((r) => setTimeout(r, 5_000))]);
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
