/**
 * Translation between native gRPC (on the listener process) and gRPC-Web (on
 * the main process's Connect port). The two protocols frame messages the same
 * way (a flag byte and a 4-byte length before each message); gRPC-Web carries
 * the trailers as a last frame with flag 0x80 instead of HTTP/2 trailers. So a
 * native call becomes a gRPC-Web call with the same headers (authorization,
 * grpc-timeout, metadata) and body bytes, and its answer becomes HTTP/2 headers,
 * the same message frames and trailers. Pure functions only: no node:http2 here.
 *
 * @module
 */

/**
 * The header the listener sets on every request it forwards. The main process
 * then serves it with the router the native gRPC port always had (gzip
 * accepted), instead of the one for the Connect port. It grants nothing else.
 */
export const listenerHeader = "kagzi-grpc-listener";

/** `application/grpc[+codec]` → `application/grpc-web+codec`; undefined for anything else. */
export function toGrpcWebContentType(contentType: string): string | undefined {
  const m = /^application\/grpc(\+[a-z0-9]+)?\s*(;.*)?$/i.exec(contentType.trim());
  if (!m) return undefined;
  return `application/grpc-web${m[1] ?? "+proto"}${m[2] ?? ""}`;
}

/** `application/grpc-web[+codec]` → `application/grpc[+codec]`. */
export function fromGrpcWebContentType(contentType: string): string {
  return contentType.replace(/^application\/grpc-web/i, "application/grpc");
}

// Connection-specific headers (forbidden in HTTP/2 and meaningless across the hop).
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "host",
  "content-length",
]);

/** The headers to send upstream: all of the caller's except pseudo and hop-by-hop ones. */
export function upstreamHeaders(
  incoming: Record<string, string | string[] | undefined>,
  contentType: string | undefined,
): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    const key = name.toLowerCase();
    if (key.startsWith(":") || hopByHop.has(key) || value === undefined) continue;
    // A native gRPC call is not a browser's: CORS does not apply to it.
    if (contentType && (key === "content-type" || key === "origin")) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(key, v);
  }
  if (contentType) out.set("content-type", contentType);
  out.set(listenerHeader, "1");
  return out;
}

/** The headers to send back to the caller: the upstream's except hop-by-hop and CORS ones. */
export function downstreamHeaders(
  upstream: Headers,
  contentType?: string,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of upstream) {
    if (hopByHop.has(key) || key === "date") continue;
    if (contentType && (key === "content-type" || key === "vary" || key.startsWith("access-"))) {
      continue;
    }
    // Headers iterates set-cookie separately and joins everything else with ", ".
    const prior = out[key];
    out[key] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value];
  }
  if (contentType) out["content-type"] = contentType;
  return out;
}

/** Splits a gRPC-Web response body into message frames and the trailer frame. */
export class FrameSplitter {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  /** The trailers, once their frame arrived. */
  trailer: Record<string, string> | undefined;

  /** Adds bytes; returns the complete message frames (prefix included) they finish. */
  push(chunk: Uint8Array): Uint8Array<ArrayBuffer>[] {
    const buf = new Uint8Array(this.#buf.length + chunk.length);
    buf.set(this.#buf);
    buf.set(chunk, this.#buf.length);
    const frames: Uint8Array<ArrayBuffer>[] = [];
    let pos = 0;
    while (buf.length - pos >= 5 && this.trailer === undefined) {
      const len = new DataView(buf.buffer, buf.byteOffset + pos + 1, 4).getUint32(0);
      if (buf.length - pos - 5 < len) break;
      const frame = buf.subarray(pos, pos + 5 + len);
      if (frame[0] & 0x80) this.trailer = parseTrailer(frame.subarray(5));
      else frames.push(frame);
      pos += 5 + len;
    }
    this.#buf = buf.slice(pos);
    return frames;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.#buf.length;
  }
}

/** Parses a gRPC-Web trailer block: `name: value` lines separated by CRLF. */
export function parseTrailer(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of new TextDecoder().decode(bytes).split("\r\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const key = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    out[key] = key in out ? `${out[key]}, ${value}` : value;
  }
  return out;
}

const codes: Record<string, number> = {
  canceled: 1,
  unknown: 2,
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  resource_exhausted: 8,
  failed_precondition: 9,
  aborted: 10,
  out_of_range: 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  data_loss: 15,
  unauthenticated: 16,
};

/**
 * The gRPC status for an upstream answer that is not gRPC-Web (a request refused
 * before the RPC layer, e.g. an unknown procedure): the Connect error code of a
 * JSON body when it has one, else the gRPC mapping of the HTTP status.
 */
export function statusFromHttp(status: number, body: string): { code: number; message: string } {
  try {
    const json = JSON.parse(body);
    if (typeof json?.code === "string" && json.code in codes) {
      return { code: codes[json.code], message: String(json.message ?? "") };
    }
  } catch { /* not JSON */ }
  const byStatus: Record<number, number> = {
    400: 13,
    401: 16,
    403: 7,
    404: 12,
    429: 14,
    502: 14,
    503: 14,
    504: 14,
  };
  return { code: byStatus[status] ?? 2, message: `HTTP ${status}: ${body.slice(0, 200)}` };
}

/** Percent-encodes a grpc-message value (bytes outside printable ASCII, and "%"). */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(message)) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
