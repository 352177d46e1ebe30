/**
 * The Kagzi server entry point: `deno run -A server/main.ts` (or `deno task start`)
 * serves `kagzi.v1` with Connect and gRPC-Web on `--port` (HTTP/1.1 and h2c) and
 * native gRPC on `--grpc-port` (node:http2, in a supervised child process that
 * forwards to `--port`). With `DENO_DEPLOY=true` (Deno Deploy) or `--serverless` it
 * serves in serverless mode instead (see `deploy.ts`). `deno serve` runs `server/serve.ts`.
 *
 * @example Start with the embedded database
 * ```sh
 * deno run -A server/main.ts --port 50051
 * ```
 *
 * @module
 */
import { startGrpcListener } from "./http/grpc_supervisor.ts";
import { boot, fail } from "./boot.ts";
import { SERVER_VERSION } from "./version.ts";
import { serveServerless } from "./deploy.ts";

/** The address this process reaches its own listener on when bound to `host`. */
function loopbackFor(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

const { config, server, cron } = await boot();

/** Opens the listener; one that cannot (port in use, unknown host) closes the server and says why. */
async function listen<T>(open: () => T): Promise<T> {
  try {
    return open();
  } catch (err) {
    await server.close().catch(() => {});
    return fail(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
  }
}

if (cron) {
  cron.attach(server);
  serveServerless(server, config, { cron: cron.registered });
} else {
  const abort = new AbortController();
  const http = await listen(() =>
    Deno.serve({
      hostname: config.host,
      port: config.port,
      signal: abort.signal,
      onListen: () => {},
      onError: (err) => {
        server.log.error("request failed", err);
        return new Response("internal error", { status: 500 });
      },
    }, server.fetch)
  );
  // Native gRPC runs in its own process: a node:http2 crash (denoland/deno#36788) stays there.
  const grpc = config.grpcPort === 0 ? undefined : await startGrpcListener({
    host: config.host,
    port: config.grpcPort,
    upstream: `http://${loopbackFor(config.host)}:${http.addr.port}`,
    log: server.log,
    logLevel: config.logLevel,
  }).catch((err) =>
    fail(`cannot listen for gRPC on ${config.host}:${config.grpcPort}: ${(err as Error).message}`)
  );
  const where = config.databaseUrl ? "postgres" : `embedded, ${config.dataDir}`;
  console.log(
    `kagzi ${SERVER_VERSION} ready: connect+grpc-web http://${config.host}:${http.addr.port}` +
      (grpc ? `, grpc http://${config.host}:${grpc.port}` : "") + ` (database: ${where})`,
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
    await Promise.race([
      Promise.all([http.finished, grpc?.close()]),
      new Promise((r) => setTimeout(r, 5_000)),
    ]);
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
