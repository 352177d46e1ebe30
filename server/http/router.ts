/**
 * The fetch router of the Connect port: `/healthz` and `/readyz`, `/metrics`, the dashboard under
 * `/ui`, streams as `text/event-stream` under `/v1/runs/{runId}/streams/`, the webhook endpoints
 * under `/v1/hooks/` (`hook_endpoint.ts`), token callbacks, and the RPCs over
 * Connect and gRPC-Web (with CORS), each RPC behind the decode guard (`decode_guard.ts`); plus the
 * `node:http2` handler serving gRPC, and the routes the native gRPC listener process forwards
 * (marked by `grpc_bridge.ts`'s header).
 */
import type * as http2 from "node:http2";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { createConnectRouter } from "@connectrpc/connect";
import {
  createFetchHandler,
  createUniversalHandlerClient,
  type UniversalClientFn,
  type UniversalHandler,
} from "@connectrpc/connect/protocol";
import {
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "../log.ts";
import type { ApiKeyCheck } from "./auth.ts";
import { corsHeaders } from "./cors.ts";
import { guardDecoding, requestGate } from "./decode_guard.ts";
import { listenerHeader } from "./grpc_bridge.ts";
import { healthPaths, serveHealth } from "./health.ts";
import type { DbHealth } from "../store/health.ts";
import { isUiPath, serveUi } from "./ui.ts";
import { isStreamEventsPath } from "./stream_sse.ts";
import {
  type InProcessUnary,
  inProcessUnary,
  recordingRouter,
  unaryInvoker,
  type UnarySpec,
} from "./in_process_unary.ts";
import { fastUnary } from "./fast_unary.ts";

/** The largest request body accepted, in bytes. */
export const maxRequestBytes = 8 * 1024 * 1024;

/** What {@linkcode createRouter} serves. */
export interface RouterOptions {
  /** Registers the services. */
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  /** The API keys, checked before a body is read; none accepts every call. */
  keys?: ApiKeyCheck;
  /** Answers `GET /readyz` (and `HealthCheck`): whether the database answers, migrated. */
  health: DbHealth;
  /** Serves `GET /metrics`, when metrics are on. */
  metrics?: (req: Request) => Promise<Response>;
  /** Serves `GET /v1/runs/{runId}/streams/{name}` (text/event-stream, `stream_sse.ts`). */
  streamEvents?: (req: Request, path: string) => Promise<Response>;
  /** Serves the webhook endpoints under `/v1/hooks/` (no API key: they check an HMAC). */
  hooks?: (req: Request) => Promise<Response>;
  /** Origins allowed by CORS; "*" allows any. */
  corsOrigins: string[];
  log: Logger;
  /** Plain HTTP endpoints served before the RPCs, by path prefix (e.g. token callback URLs). */
  httpRoutes?: { prefix: string; handle: (req: Request) => Promise<Response> }[];
}

/** The Connect port's fetch handler and the `node:http2` handler of the gRPC port. */
export interface Router {
  fetch(req: Request): Promise<Response>;
  http2Handler(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void;
  /**
   * The Connect RPCs called in memory (the same guarded handlers, interceptors and keys as
   * `fetch`, without a Request, a Response or their streams): the in-process SDK's transport.
   */
  call: UniversalClientFn;
  /** The unary RPCs called in memory with messages, not bytes (`in_process_unary.ts`). */
  unary: InProcessUnary;
}

/** Builds both handlers over one set of services and interceptors. */
export function createRouter(options: RouterOptions): Router {
  const { keys, log, metrics } = options;
  const specs: Parameters<typeof recordingRouter>[1] = new Map();
  const handlers = (grpc: boolean): Map<string, UniversalHandler> => {
    const compression = grpc ? [compressionGzip] : [];
    const router = createConnectRouter({
      interceptors: options.interceptors,
      grpc,
      readMaxBytes: maxRequestBytes,
      acceptCompression: compression,
      requestGate: requestGate((msg, e) => log.error(msg, e)),
    });
    options.routes(grpc ? router : recordingRouter(router, specs));
    const guard = {
      maxBytes: maxRequestBytes,
      compression,
      authenticate: keys &&
        ((method: string, header: Headers) => keys.authenticate(method, header)),
    };
    return new Map(router.handlers.map((h) => [h.requestPath, guardDecoding(h, guard)]));
  };
  // gRPC needs HTTP trailers, which fetch responses cannot carry: it is served on node:http2.
  const connectHandlers = handlers(false);
  const fetchHandlers = new Map(
    [...connectHandlers].map(([path, h]) => [path, createFetchHandler(h)]),
  );
  const nodeHandlers = handlers(true);
  const logError = (msg: string, e: unknown) => log.error(msg, e);
  const invoke = unaryInvoker(options.interceptors, keys, logError);
  const unarySpecs = new Map<string, UnarySpec>();
  for (const [path, spec] of specs) if (spec.kind === "unary") unarySpecs.set(path, spec);
  // Binary Connect unary calls skip Connect's HTTP objects (`fast_unary.ts`).
  const fast = fastUnary(unarySpecs, invoke, keys, maxRequestBytes);
  // What the native gRPC listener process forwards (as gRPC-Web): the gRPC port's router.
  const listenerHandlers = new Map(
    [...nodeHandlers].map(([path, h]) => [path, createFetchHandler(h)]),
  );
  const fetch = async (req: Request): Promise<Response> => {
    const headers = corsHeaders(req, options.corsOrigins);
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers });
    const path = pathOf(req.url);
    const handler = (req.headers.has(listenerHeader) ? listenerHandlers : fetchHandlers).get(path);
    const contentType = req.headers.get("content-type") ?? "";
    let res: Response;
    const route = handler ? undefined : options.httpRoutes?.find((r) => path.startsWith(r.prefix));
    if (route) {
      res = await route.handle(req);
    } else if (healthPaths.has(path)) {
      res = await serveHealth(req, path, options.health);
    } else if (path.startsWith("/v1/hooks/") && options.hooks) {
      res = await options.hooks(req);
    } else if (path === "/metrics" && metrics) {
      res = await metrics(req);
    } else if (!handler && options.streamEvents && isStreamEventsPath(path)) {
      res = await options.streamEvents(req, path);
    } else if (!handler && isUiPath(path)) {
      res = serveUi(req, path);
    } else if (!handler) {
      res = Response.json({ code: "unimplemented", message: `No such procedure: ${path}` }, {
        status: 404,
      });
    } else if (req.method === "POST" && !supportedContentType.test(contentType)) {
      res = Response.json({
        code: "invalid_argument",
        message: `Unsupported "content-type" ${JSON.stringify(contentType)}: use ` +
          "application/proto or application/json (Connect), application/grpc-web+proto " +
          "(gRPC-Web), or application/grpc on the gRPC port",
      }, { status: 415 });
    } else if (req.headers.has(listenerHeader)) {
      res = await handler(req);
    } else {
      const direct = await fast(req, path);
      res = direct instanceof Response ? direct : await handler(direct);
    }
    if (headers) { for (const [k, v] of headers) res.headers.set(k, v); }
    return res;
  };
  const http2Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const handler = nodeHandlers.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    handler(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((err) => log.debug(`${handler.method.name}: response not delivered`, err));
  };
  const call = createUniversalHandlerClient([...connectHandlers.values()]);
  const unary = inProcessUnary(specs, options.interceptors, keys, logError);
  return { fetch, http2Handler, call, unary };
}

/** A request URL's path, without parsing the whole URL (every call pays for it). */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.slice(start).search(/[?#]/);
  return end < 0 ? url.slice(start) : url.slice(start, start + end);
}

const supportedContentType =
  /^application\/(proto|json|connect\+(proto|json)|grpc-web(\+proto|\+json)?)\s*(;|$)/i;
