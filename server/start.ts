/**
 * Starts a Kagzi server: opens the database, migrates it, starts the engine (ticker,
 * scheduler, retention) and builds the request router. `createServer` in `mod.ts` is its public
 * face; the testing kit (`testing.ts`) starts it on its own database and virtual clock.
 *
 * @module
 */
import type * as http2 from "node:http2";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  AdminService,
  BulkOperationService,
  EventService,
  HookService,
  RateLimitService,
  StreamService,
  TokenService,
  WorkerService,
  WorkflowScheduleService,
  WorkflowService,
} from "@kagzi/proto";
import type { ServerConfig } from "./server_config.ts";
import { Notifier, workTopic } from "./engine/notify.ts";
import { Dispatcher } from "./engine/dispatch.ts";
import { createLogger, type Logger } from "./log.ts";
import { createMetrics, noMetrics } from "./metrics.ts";
import { withDbSpans } from "./tracing.ts";
import { connectPostgres, type Db } from "./store/db.ts";
import { installFaultGuard } from "./store/faults.ts";
import { DbHealth } from "./store/health.ts";
import { migrations } from "./store/migrations.gen.ts";
import { migrate } from "./store/migrate.ts";
import type { ServiceContext } from "./services/_context.ts";
import { adminService } from "./services/admin_service.ts";
import { bulkService } from "./services/bulk_service.ts";
import { eventService } from "./services/event_service.ts";
import { hookService } from "./services/hook_service.ts";
import { hookEndpoint } from "./http/hook_endpoint.ts";
import { rateLimitService } from "./services/rate_limit_service.ts";
import { startBulkWorker } from "./engine/bulk.ts";
import { workflowService } from "./services/workflow_service.ts";
import { workerService } from "./services/worker_service.ts";
import { startTicker } from "./engine/ticker.ts";
import { startScheduler } from "./engine/scheduler.ts";
import { type Clock, systemClock } from "./engine/clock.ts";
import { Maintenance } from "./engine/maintenance.ts";
import { startRetention } from "./engine/retention.ts";
import { DeadWorkers } from "./engine/dead_workers.ts";
import { scheduleService } from "./services/schedule_service.ts";
import { streamService } from "./services/stream_service.ts";
import { ApiKeyCheck } from "./http/auth.ts";
import { interceptorsFor } from "./http/interceptors.ts";
import { createRouter } from "./http/router.ts";
import { FlowCache } from "./services/_flow_cache.ts";
import { serveStreamEvents } from "./http/stream_sse.ts";
import { TokenSigner } from "./services/_token_urls.ts";
import { tokenService } from "./services/token_service.ts";
import { OpenRuns } from "./services/_open_runs.ts";
import { tokenCallback, tokenPathPrefix } from "./http/token_callback.ts";

/** A running Kagzi server (without listeners: serve `fetch` or `routes` yourself). */
export interface KagziServer {
  /**
   * Serves Connect and gRPC-Web requests (HTTP/1.1 or HTTP/2); gRPC needs `routes` on node:http2.
   * `Kagzi.connect(server)` and `Worker.builder(server)` call it directly in this process.
   */
  fetch(req: Request): Promise<Response>;
  /**
   * Serves gRPC, gRPC-Web and Connect on a `node:http2` server (`http2.createServer(handler)`).
   * `server/main.ts` does not: a `node:http2` server can abort its process (denoland/deno#36788),
   * so it runs native gRPC in a child process that forwards to `fetch` (`http/grpc_listener.ts`).
   */
  http2Handler(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void;
  /** "postgres" or "embedded". */
  readonly database: string;
  /** The logger the server writes to. */
  readonly log: Logger;
  /**
   * The server's clock (ms since the epoch): when sleeps, retries, timeouts, deadlines and
   * schedules are due. `Date.now()`, except on the testing kit's virtual clock; a worker in
   * this process (`Worker.builder(server)`) times its durable sleeps and waits by it.
   */
  now(): number;
  /**
   * Runs the engine's periodic work once now (recover leases, wake due runs, fail overdue ones,
   * fire due schedules). Serverless mode has no background timers: the `Deno.cron` job calls
   * this (requests run it too); a long-running server ticks by itself, and runs a tick now.
   */
  maintain(): Promise<void>;
  /** Stops the engine and closes the database. */
  close(): Promise<void>;
}

/** How {@linkcode startServer} is embedded; `createServer` passes none. */
export interface StartOptions {
  /** Engine time. @default the system clock */
  clock?: Clock;
  /** A database the caller opened, used instead of the config's; the caller closes it. */
  db?: { db: Db; database: string };
}

/** Opens the database (or takes the given one), migrates it and starts the engine. */
export async function startServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<KagziServer> {
  const log = createLogger(config.logLevel);
  installFaultGuard((msg, err) => log.warn(msg, err));
  const clock = options.clock ?? systemClock;
  let db: Db;
  let closeDb = () => db.close();
  let closeEmbedded = async () => {};
  let database: string;
  if (options.db) {
    ({ db, database } = options.db);
    closeDb = async () => {};
  } else if (config.databaseUrl) {
    db = connectPostgres(config.databaseUrl, { max: config.poolSize });
    database = "postgres";
  } else {
    // Loaded only when used: PGlite is large.
    const { startEmbedded } = await import("./store/embedded.ts");
    const embedded = await startEmbedded({ dataDir: config.dataDir });
    closeEmbedded = () => embedded.close();
    // pglite-socket serves one connection; LISTEN does not cross it, so wake-ups stay in-process.
    db = connectPostgres(embedded.url, { max: 1, crossProcessNotify: false });
    database = "embedded";
  }
  db = withDbSpans(db);
  try {
    // Serverless mode migrates in a pre-deploy command (`deno task migrate`), not per instance.
    const applied = config.migrate ? await migrate(db) : [];
    if (applied.length) log.info(`applied migrations ${applied.join(", ")}`);
  } catch (err) {
    await closeDb().catch(() => {});
    await closeEmbedded();
    throw err;
  }
  const notifier = new Notifier(db, (err) => log.warn("notify failed", err), clock);
  const dispatch = new Dispatcher(config.leaseMs, (ns) => notifier.announce(workTopic(ns)));
  notifier.onWork = (ns) => dispatch.wakeAll(ns);
  notifier.onReconnect = () => dispatch.wakeEverywhere();
  await notifier.start();
  const metrics = config.metrics
    ? createMetrics({
      db,
      log,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      apiKeys: config.apiKeys,
    })
    : undefined;
  const ctx: ServiceContext = {
    db,
    notifier,
    dispatch,
    config,
    log,
    database,
    metrics: metrics ?? noMetrics,
    health: new DbHealth(db, Math.max(...migrations.map((m) => m.version))),
    deadWorkers: config.serverless
      ? undefined
      : new DeadWorkers(db, notifier, log, config.heartbeatIntervalMs, config.leaseMs),
    clock,
    flowCache: new FlowCache(),
    openRuns: new OpenRuns(notifier),
    tokens: new TokenSigner(db, config.publicUrl),
  };

  const maintenance = config.serverless
    ? new Maintenance(db, notifier, log, {
      intervalMs: config.tickIntervalMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      // The cron job runs once a minute: a fire time found that late is still on time.
      scheduleGraceMs: 90_000,
    })
    : undefined;
  // The key is checked before the body is read (guardDecoding); what it covers once the
  // request is decoded (scopeInterceptor), before anything else is said about the request.
  const keys = config.apiKeys.length ? new ApiKeyCheck(config.apiKeys) : undefined;
  const interceptors = interceptorsFor({
    log,
    metrics: metrics?.interceptor,
    scoped: keys !== undefined,
    maintenance,
  });
  // One instance: it caches registered workers.
  const worker = workerService(ctx);
  const routes = (router: ConnectRouter) => {
    router.service(WorkflowService, workflowService(ctx));
    router.service(AdminService, adminService(ctx));
    router.service(WorkerService, worker);
    router.service(WorkflowScheduleService, scheduleService(ctx));
    router.service(BulkOperationService, bulkService(ctx));
    router.service(StreamService, streamService(ctx));
    router.service(TokenService, tokenService(ctx));
    router.service(EventService, eventService(ctx));
    router.service(HookService, hookService(ctx));
    router.service(RateLimitService, rateLimitService(ctx));
  };
  const { fetch, http2Handler, call, unary } = createRouter({
    routes,
    interceptors,
    keys,
    health: ctx.health,
    metrics: metrics && ((req) => metrics.handle(req)),
    streamEvents: (req, path) => serveStreamEvents(ctx, keys, req, path),
    hooks: hookEndpoint(ctx),
    corsOrigins: config.corsOrigins,
    log,
    httpRoutes: [{ prefix: tokenPathPrefix, handle: tokenCallback(ctx) }],
  });
  const ticker = maintenance ? undefined : startTicker(db, notifier, log, {
    intervalMs: config.tickIntervalMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    metrics: ctx.metrics,
  });
  // Serverless hosts have no timers that outlive requests: bulk operations need a long-running server.
  const bulkWorker = maintenance ? undefined : startBulkWorker(db, notifier, log, {
    intervalMs: Math.max(config.tickIntervalMs, 200),
    leaseMs: config.leaseMs,
    batchSize: config.bulkBatchSize,
    minPauseMs: config.bulkPauseMs,
  });
  ctx.bulk = bulkWorker;
  const scheduler = maintenance ? undefined : startScheduler(db, notifier, log, {
    graceMs: Math.max(2_000, config.tickIntervalMs * 2),
    maxIdleMs: config.tickIntervalMs,
    metrics: ctx.metrics,
    clock,
  });
  const stopRetention = startRetention(db, log, {
    defaultMs: config.retentionMs,
    byNamespace: config.retentionByNamespace,
    // The embedded database has one connection: shorter statements keep it free for requests.
    batchSize: database === "embedded" ? 100 : 500,
  });
  let closed = false;
  const server: KagziServer = {
    fetch,
    http2Handler,
    database,
    log,
    now: () => clock.now(),
    async maintain() {
      if (maintenance) return await maintenance.run();
      await ticker!.tickNow();
      await scheduler!.passNow();
    },
    async close() {
      if (closed) return;
      closed = true;
      await (maintenance?.close() ?? ticker!.stop());
      await bulkWorker?.stop();
      await scheduler?.stop();
      await stopRetention();
      ctx.deadWorkers?.close();
      ctx.health.close();
      await notifier.close();
      await closeDb().catch((err) => log.warn("closing the database failed", err));
      await closeEmbedded();
    },
  };
  // The same handlers, checks and keys as `fetch`, called in memory with no HTTP request or
  // response objects: what `Kagzi.connect(server)` and `Worker.builder(server)` use for Connect
  // (sdk/_in_process_transport.ts; gRPC-Web goes through `fetch`): unary calls as messages
  // (http/in_process_unary.ts), streaming calls as bytes. Symbols: a handshake, not API.
  Object.defineProperties(server, {
    [Symbol.for("kagzi.inProcessCall")]: { value: call, enumerable: true },
    [Symbol.for("kagzi.inProcessUnary")]: { value: unary, enumerable: true },
  });
  return server;
}
