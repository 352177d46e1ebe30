/**
 * Serving in serverless mode (Deno Deploy and similar hosts): the `Deno.cron` maintenance job,
 * `Deno.serve` for Connect and gRPC-Web (no native gRPC), and a shutdown that fits the platform's
 * grace period: on SIGINT/SIGTERM open long polls and waits answer at once, so their callers
 * move to another instance, new calls are refused as UNAVAILABLE, and the instance closes.
 */
import type { KagziServer, ServerConfig } from "./mod.ts";
import { SERVER_VERSION } from "./version.ts";

/** The maintenance job's name, as Deno Deploy's dashboard shows it. */
export const cronJobName = "kagzi-maintenance";

type CronFn = (name: string, schedule: string, handler: () => Promise<void>) => Promise<void>;

/** The maintenance cron job, registered before the server exists. */
export interface MaintenanceCron {
  /** Whether the runtime has `Deno.cron` (Deno Deploy does; locally it needs `--unstable-cron`). */
  readonly registered: boolean;
  /** Hands the job its server; invocations before this wait for it. */
  attach(server: KagziServer): void;
}

/**
 * Registers the maintenance job (every minute, the finest `Deno.cron` schedule) when the
 * runtime has `Deno.cron`. Call it at the top level of the entry module, before `Deno.serve`:
 * Deno Deploy discovers cron jobs by running the module's top level at deployment time.
 */
export function registerMaintenanceCron(): MaintenanceCron {
  const cron = (Deno as unknown as { cron?: CronFn }).cron;
  const ready = Promise.withResolvers<KagziServer>();
  if (typeof cron === "function") {
    cron(cronJobName, "* * * * *", async () => await (await ready.promise).maintain());
  }
  return { registered: typeof cron === "function", attach: (server) => ready.resolve(server) };
}

/** Options of {@linkcode serveServerless}. */
export interface ServerlessOptions {
  /** Whether the maintenance cron job is registered (only requests drive the engine otherwise). */
  cron: boolean;
  /** How long shutdown waits for requests in flight. @default 4000 (the platform grants 5 s) */
  graceMs?: number;
}

/** Serves `server` with `Deno.serve` until SIGINT or SIGTERM, then drains it and exits. */
export function serveServerless(
  server: KagziServer,
  config: ServerConfig,
  options: ServerlessOptions,
): void {
  const draining = new AbortController();
  const listener = new AbortController();
  const http = Deno.serve({
    hostname: config.host,
    port: config.port,
    signal: listener.signal,
    onListen: () => {},
    onError: (err) => {
      server.log.error("request failed", err);
      return new Response("internal error", { status: 500 });
    },
  }, (req) => {
    if (draining.signal.aborted) {
      return Response.json(
        { code: "unavailable", message: "This Kagzi instance is shutting down; call again" },
        { status: 503, headers: { "retry-after": "1" } },
      );
    }
    // Waits end when the caller leaves or when this instance drains.
    return server.fetch(
      new Request(req, { signal: AbortSignal.any([req.signal, draining.signal]) }),
    );
  });
  console.log(
    "kagzi: native gRPC is off in serverless mode: the host has no node:http2 listener and " +
      "Deno.serve cannot send the HTTP trailers gRPC needs; clients use Connect or gRPC-Web",
  );
  const engine = options.cron
    ? `the ${cronJobName} Deno.cron job and requests drive the engine`
    : "requests drive the engine (no Deno.cron here: run with --unstable-cron for the cron job)";
  console.log(
    `kagzi ${SERVER_VERSION} ready: connect+grpc-web http://${config.host}:${http.addr.port} ` +
      `(database: ${server.database}, serverless: ${engine})`,
  );
  if (config.apiKeys.length === 0 && !["127.0.0.1", "localhost", "::1"].includes(config.host)) {
    server.log.warn(
      `listening on ${config.host} without API keys: anyone who reaches this app can call it ` +
        "(set KAGZI_API_KEYS)",
    );
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.log.info("shutting down: answering open polls and waits");
    draining.abort();
    listener.abort();
    await Promise.race([
      http.finished,
      new Promise((r) => setTimeout(r, options.graceMs ?? 4_000)),
    ]);
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
