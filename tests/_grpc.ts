/** Unary calls with the real @grpc/grpc-js client (HTTP/2 with trailers). */
import { Buffer } from "node:buffer";
import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";

/** Calls `path` with `req`, sending `metadata` (headers) when given. */
export function grpcUnary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  path: string,
  input: I,
  output: O,
  req: MessageShape<I>,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
      (b: Buffer) => fromBinary(output, new Uint8Array(b)),
      req,
      metadata,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

/** What a raw HTTP/2 gRPC exchange answered. */
export interface RawGrpcAnswer {
  /** The HTTP status. */
  status: number;
  /** grpc-status from the trailers (or trailers-only headers); NaN when absent. */
  grpcStatus: number;
  grpcMessage: string;
  /** The response body (message frames). */
  body: Uint8Array;
}

/**
 * Sends `body` as-is to a gRPC server with node:http2 (any bytes, any headers), so tests
 * can send what a well-behaved client never would. Rejects after `timeoutMs`.
 */
export function grpcRaw(
  port: number | http2.ClientHttp2Session,
  path: string,
  body: Uint8Array,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    // A session of the caller's is kept open (as gRPC clients do); an own one is closed.
    const own = typeof port === "number";
    const session = own ? http2.connect(`http://127.0.0.1:${port}`) : port;
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      if (own) session.destroy();
      reject(new Error(`no gRPC answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.off("error", onError);
      if (own) session.close();
      f();
    };
    const onError = (err: Error) => done(() => reject(err));
    session.on("error", onError);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const answer: RawGrpcAnswer = {
      status: 0,
      grpcStatus: NaN,
      grpcMessage: "",
      body: new Uint8Array(),
    };
    const chunks: Uint8Array[] = [];
    const status = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) answer.grpcStatus = Number(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) {
        answer.grpcMessage = decodeURIComponent(String(h["grpc-message"]));
      }
    };
    req.on("response", (h) => {
      answer.status = Number(h[":status"]);
      status(h);
    });
    req.on("trailers", status);
    req.on("data", (c: Uint8Array) => chunks.push(c));
    req.on("error", (err) => done(() => reject(err)));
    // The answer is complete at the end of the response, even when the server answered
    // before reading the whole request (and the stream is not closed yet).
    const finish = () =>
      done(() => resolve({ ...answer, body: new Uint8Array(Buffer.concat(chunks)) }));
    req.on("end", finish);
    req.on("close", finish);
    req.end(Buffer.from(body));
  });
}

/** grpc-status and grpc-message of a gRPC-Web response: from its headers or its trailer frame. */
export async function grpcWebStatus(
  res: Response,
): Promise<{ grpcStatus: number; grpcMessage: string }> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  let text = "";
  for (let at = 0; at + 5 <= bytes.length;) {
    const len = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    if (bytes[at] & 0x80) text += new TextDecoder().decode(bytes.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  const field = (name: string) =>
    res.headers.get(name) ?? new RegExp(`^${name}:\\s*(.*?)\\r?$`, "mi").exec(text)?.[1];
  return {
    grpcStatus: Number(field("grpc-status") ?? NaN),
    grpcMessage: decodeURIComponent(field("grpc-message") ?? ""),
  };
}
