/**
 * The native gRPC listener: a child process the server starts (see
 * `grpc_supervisor.ts`) so that a crash of Deno's `node:http2` server (e.g. the
 * nghttp2 assertion of denoland/deno#36788, which aborts the whole process)
 * takes down only this listener, never the server and its engine. It accepts
 * HTTP/2 on `--port`, forwards each native gRPC call to the server's Connect
 * port as gRPC-Web (same headers and message frames, see `grpc_bridge.ts`) and
 * turns the answer back into gRPC with HTTP/2 trailers; anything else (Connect,
 * gRPC-Web) is passed through unchanged. It holds no state, so a restart loses
 * only the calls in flight.
 *
 * Prints `{"port":N}` on stdout once listening; exits when its stdin closes
 * (the server died) and, gracefully, on SIGTERM.
 *
 * ```sh
 * deno run --allow-net server/grpc_listener.ts --host 127.0.0.1 --port 50052 \
 *   --upstream http://127.0.0.1:50051
 * ```
 *
 * @module
 */
import * as http2 from "node:http2";
import { parseArgs } from "node:util";
import {
  downstreamHeaders,
  encodeGrpcMessage,
  FrameSplitter,
  fromGrpcWebContentType,
  statusFromHttp,
  toGrpcWebContentType,
  upstreamHeaders,
} from "./grpc_bridge.ts";
import { createLogger, type LogLevel } from "./log.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "50052" },
    upstream: { type: "string" },
    "log-level": { type: "string", default: "info" },
  },
});
const log = createLogger(args["log-level"] as LogLevel);
const upstream = args.upstream ?? "http://127.0.0.1:50051";

/** Requests being forwarded; SIGTERM waits for them. */
let inFlight = 0;

/** Forwards one request upstream and its answer back. Never throws. */
async function forward(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) {
  inFlight++;
  const abort = new AbortController();
  res.once("close", () => abort.abort());
  const grpcWeb = toGrpcWebContentType(String(req.headers["content-type"] ?? ""));
  try {
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    let up: Response;
    try {
      up = await fetch(upstream + req.url, {
        method: req.method,
        headers: upstreamHeaders(req.headers, grpcWeb),
        body: hasBody ? bodyOf(req) : undefined,
        signal: abort.signal,
        // @ts-ignore: a streamed request body needs duplex: "half" (fetch standard).
        duplex: "half",
      });
    } catch (err) {
      if (abort.signal.aborted) return;
      log.warn(`gRPC listener: the server did not answer ${req.url}`, err);
      if (grpcWeb) return endGrpc(res, 14, "Kagzi server unavailable");
      res.writeHead(502).end();
      return;
    }
    const upType = up.headers.get("content-type") ?? "";
    if (!grpcWeb) {
      res.writeHead(up.status, downstreamHeaders(up.headers));
      await pipeBody(up.body, res, (chunk) => chunk);
      res.end();
      return;
    }
    if (!/^application\/grpc-web/i.test(upType)) {
      const text = await up.text().catch(() => "");
      const { code, message } = statusFromHttp(up.status, text);
      return endGrpc(res, code, message);
    }
    res.writeHead(200, downstreamHeaders(up.headers, fromGrpcWebContentType(upType)));
    const split = new FrameSplitter();
    await pipeBody(up.body, res, (chunk) => concat(split.push(chunk)));
    let trailer = split.trailer;
    if (!trailer && up.headers.has("grpc-status")) trailer = {}; // trailers-only: sent as headers
    if (!trailer || split.pending) {
      trailer = { "grpc-status": "13", "grpc-message": "Incomplete response from the server" };
    }
    if (!abort.signal.aborted) {
      if (Object.keys(trailer).length) res.addTrailers(trailer);
      res.end();
    }
  } catch (err) {
    if (!abort.signal.aborted) {
      log.warn(`gRPC listener: forwarding ${req.url} failed`, err);
      if (!res.headersSent && grpcWeb) endGrpc(res, 13, "Forwarding the call failed");
      else res.stream?.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
  } finally {
    abort.abort();
    inFlight--;
  }
}

/** A trailers-only gRPC answer. */
function endGrpc(res: http2.Http2ServerResponse, code: number, message: string) {
  if (res.headersSent) {
    res.addTrailers({ "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) });
    res.end();
    return;
  }
  res.writeHead(200, {
    "content-type": "application/grpc+proto",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(message),
  }).end();
}

/** The request body as a web stream, read only as fast as upstream takes it. */
function bodyOf(req: http2.Http2ServerRequest): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      req.on("data", (b: Uint8Array) => {
        c.enqueue(new Uint8Array(b));
        if ((c.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => c.close());
      req.once("error", (e) => c.error(e));
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.destroy();
    },
  }, { highWaterMark: 4 });
}

/** Writes an upstream body to the caller through `map`, waiting when the caller is slow. */
async function pipeBody(
  body: ReadableStream<Uint8Array> | null,
  res: http2.Http2ServerResponse,
  map: (chunk: Uint8Array) => Uint8Array,
) {
  if (!body) return;
  for await (const chunk of body) {
    const out = map(chunk);
    if (out.length === 0 || res.destroyed) continue;
    if (!res.write(out)) {
      await new Promise<void>((r) => {
        res.once("drain", r);
        res.once("close", r);
      });
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const server = http2.createServer((req, res) => void forward(req, res));
const sessions = new Set<http2.ServerHttp2Session>();
server.on("session", (s) => {
  sessions.add(s);
  s.on("error", (err) => log.debug("gRPC listener: session error", err));
  s.once("close", () => sessions.delete(s));
});

/** Listens, retrying briefly while a previous listener (e.g. of a killed server) lets go. */
async function listen(port: number, host: string): Promise<number> {
  for (let attempt = 0;; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      return (server.address() as { port: number }).port;
    } catch (err) {
      if ((err as { code?: string }).code !== "EADDRINUSE" || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let port: number;
try {
  port = await listen(Number(args.port), args.host);
} catch (err) {
  console.error(`cannot listen for gRPC on ${args.host}:${args.port}: ${(err as Error).message}`);
  Deno.exit(2);
}
console.log(JSON.stringify({ port }));

// The server holds our stdin open; when it dies, for whatever reason, we go too.
(async () => {
  try {
    for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
  } finally {
    Deno.exit(0);
  }
})();

Deno.addSignalListener("SIGTERM", async () => {
  server.close();
  for (const s of sessions) s.close();
  const until = Date.now() + 4_000;
  while (inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  Deno.exit(0);
});
