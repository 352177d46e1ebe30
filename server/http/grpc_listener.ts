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
 * deno run --allow-net server/http/grpc_listener.ts --host 127.0.0.1 --port 50052 \
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
import { createLogger, type LogLevel } from "../log.ts";

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
        body: hasBody ? await bodyOf(req) : undefined,
        signal: abort.signal,
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
    const headers = downstreamHeaders(up.headers, fromGrpcWebContentType(upType));
    // A trailers-only gRPC-Web answer has its status in the headers: it goes in trailers here.
    const statusInHeaders: Record<string, string> = {};
    for (const key of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) {
      if (headers[key] !== undefined) statusInHeaders[key] = String(headers[key]);
      delete headers[key];
    }
    res.writeHead(200, headers);
    const split = new FrameSplitter();
    await pipeBody(up.body, res, (chunk) => concat(split.push(chunk)));
    let trailer = split.trailer;
    if (!trailer && statusInHeaders["grpc-status"]) trailer = statusInHeaders;
    if (!trailer || split.pending) {
      trailer = { "grpc-status": "13", "grpc-message": "Incomplete response from the server" };
    }
    if (!abort.signal.aborted) {
      res.addTrailers(trailer);
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

/** Ends a gRPC answer with a status (in trailers, after headers when none were sent yet). */
function endGrpc(res: http2.Http2ServerResponse, code: number, message: string) {
  if (!res.headersSent) res.writeHead(200, { "content-type": "application/grpc+proto" });
  res.addTrailers({ "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) });
  res.end();
}

/** Request bodies up to this size are read whole before forwarding; larger ones stream. */
const BUFFER_LIMIT = 8 * 1024 * 1024 + 64 * 1024;

/**
 * The request body: whole bytes when it ends within {@linkcode BUFFER_LIMIT} (a streamed
 * upload goes out as several small writes, which Nagle's algorithm and delayed ACKs turn
 * into ~40 ms per call), else a stream of what was read and the rest, read only as fast
 * as upstream takes it, so the server sees every byte and applies its own limit.
 */
function bodyOf(
  req: http2.Http2ServerRequest,
): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let size = 0;
    const onData = (b: Uint8Array) => {
      chunks.push(new Uint8Array(b));
      size += b.length;
      if (size <= BUFFER_LIMIT) return;
      req.off("data", onData).off("end", onEnd).off("error", reject).pause();
      resolve(streamOf(req, chunks));
    };
    const onEnd = () => resolve(concat(chunks));
    req.on("data", onData).once("end", onEnd).once("error", reject);
  });
}

function streamOf(req: http2.Http2ServerRequest, head: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const chunk of head) c.enqueue(chunk);
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

function concat(parts: Uint8Array<ArrayBuffer>[]): Uint8Array<ArrayBuffer> {
  if (parts.length === 1) return parts[0];
  if (parts.length === 0) return new Uint8Array(0);
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
// Headers, messages and trailers go out as separate writes: without this, Nagle's algorithm
// holds the later ones until the caller's delayed ACK (about 40 ms per call).
server.on("connection", (socket: { setNoDelay?(on: boolean): void }) => socket.setNoDelay?.(true));
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
