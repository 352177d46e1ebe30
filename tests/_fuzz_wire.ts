/** Sends raw request bodies on each protocol and reads the answer as one Connect code. */
import * as http2 from "node:http2";
import { grpcRaw, grpcWebStatus } from "./_grpc.ts";

/** The protocols a request can travel on. */
export const protocols = ["connect-json", "connect-proto", "grpc-web", "grpc"] as const;
/** One of {@linkcode protocols}. */
export type Protocol = typeof protocols[number];

/** The content type a well-behaved client of each protocol sends. */
export const contentTypes: Record<Protocol, string> = {
  "connect-json": "application/json",
  "connect-proto": "application/proto",
  "grpc-web": "application/grpc-web+proto",
  grpc: "application/grpc",
};

/** Whether the protocol frames messages in 5-byte envelopes. */
export const enveloped = (p: Protocol): boolean => p === "grpc-web" || p === "grpc";

/** What came back: a Connect code name ("ok" for success; `http-NNN` without one). */
export interface Answer {
  code: string;
  http: number;
  message: string;
}

const grpcCodes = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/** The addresses of the server under test. */
export interface Target {
  url: string;
  grpcPort: number;
  /** One HTTP/2 connection for every native gRPC request, as a gRPC client keeps. */
  grpcSession?: http2.ClientHttp2Session;
}

/** Opens (or reopens, after an error) the target's shared gRPC connection. */
export function grpcSession(target: Target): http2.ClientHttp2Session {
  if (!target.grpcSession || target.grpcSession.closed || target.grpcSession.destroyed) {
    target.grpcSession = http2.connect(`http://127.0.0.1:${target.grpcPort}`);
    target.grpcSession.on("error", () => {});
  }
  return target.grpcSession;
}

/** A request as sent: which protocol and port, path, method, headers and body bytes. */
export interface WireRequest {
  protocol: Protocol;
  path: string;
  method?: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Sends `req`; rejects when no answer arrives within `timeoutMs` (a hang). */
export async function send(target: Target, req: WireRequest, timeoutMs: number): Promise<Answer> {
  if (req.protocol === "grpc") {
    const a = await grpcRaw(grpcSession(target), req.path, req.body, req.headers, timeoutMs);
    return {
      code: Number.isNaN(a.grpcStatus) ? `http-${a.status}` : grpcCodes[a.grpcStatus] ?? "?",
      http: a.status,
      message: a.grpcMessage,
    };
  }
  const method = req.method ?? "POST";
  const res = await fetch(target.url + req.path, {
    method,
    headers: req.headers,
    body: method === "GET" || method === "HEAD" ? undefined : req.body as Uint8Array<ArrayBuffer>,
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (req.protocol === "grpc-web" && res.status === 200) {
    const s = await grpcWebStatus(res);
    return {
      code: Number.isNaN(s.grpcStatus) ? "http-200" : grpcCodes[s.grpcStatus] ?? "?",
      http: 200,
      message: s.grpcMessage,
    };
  }
  const text = await res.text();
  if (res.status === 200) return { code: "ok", http: 200, message: "" };
  try {
    const json = JSON.parse(text);
    if (typeof json.code === "string") {
      return { code: json.code, http: res.status, message: String(json.message ?? "") };
    }
  } catch { /* not a Connect error body */ }
  return { code: `http-${res.status}`, http: res.status, message: text.slice(0, 200) };
}

/** A message in a 5-byte envelope with the given flags. */
export function envelope(message: Uint8Array, flags = 0, declared = message.length): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, declared);
  out.set(message, 5);
  return out;
}

/** Resident memory of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  return kb * 1024;
}
