/**
 * The request guard: runs in front of every Connect handler (Connect, gRPC-Web
 * and native gRPC alike), before Connect reads anything, and decides whether a
 * request may be decoded at all:
 *
 * 1. the API key is checked from the headers; without an accepted key nothing of
 *    the body is read;
 * 2. a body over the size limit is refused whole with RESOURCE_EXHAUSTED (by its
 *    `content-length` when it has one, else as soon as it grows past the limit),
 *    and none of it is decoded;
 * 3. enveloped bodies (gRPC, gRPC-Web, Connect streaming) are checked frame by frame: a truncated
 *    frame, extra frames, unknown flag bits or a compressed flag without an
 *    encoding are INVALID_ARGUMENT (an encoding the server does not support is
 *    left to Connect, which answers UNIMPLEMENTED as the gRPC spec asks);
 * 4. the message is decoded once here, so that a body that is not a valid message
 *    (garbage, invalid UTF-8 in a string, an enum name the schema does not define)
 *    is INVALID_ARGUMENT naming the field, instead of Connect's INTERNAL.
 *
 * A refused request reaches Connect with an empty body and its reason in the
 * context; {@linkcode requestGate} (Connect's hook that runs before the body is
 * read) raises it, so the error is framed for the request's own protocol.
 */
import { fromBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import type { Compression, UniversalHandler } from "@connectrpc/connect/protocol";
import { callerScope, type KeyScope } from "./auth.ts";
import {
  InvalidArgumentError,
  type KagziServerError,
  ResourceExhaustedError,
  toConnectError,
} from "../errors.ts";
import { badFieldError } from "../services/_message_values.ts";
import { findUnknownEnumName, invalidUtf8Field } from "./message_check.ts";

/** Options of {@linkcode guardDecoding}. */
export interface GuardOptions {
  /** The largest message accepted, in bytes (before and after decompression). */
  maxBytes: number;
  /** The encodings the handler accepts (e.g. gzip for native gRPC). @default [] */
  compression?: Compression[];
  /** Checks the caller's key from the headers; absent when the server has no keys. */
  authenticate?: (method: string, header: Headers) => KeyScope | KagziServerError;
}

/** Why a request is refused before decoding, for {@linkcode requestGate} to raise. */
const refusal = createContextKey<KagziServerError | undefined>(undefined, {
  description: "kagzi request refusal",
});

type Request = Parameters<UniversalHandler>[0];

/** Wraps a handler with the checks above. */
export function guardDecoding(handler: UniversalHandler, options: GuardOptions): UniversalHandler {
  const { maxBytes } = options;
  const input = handler.method.input;
  const guarded = async (req: Request) => {
    const values = req.contextValues ?? createContextValues();
    const refuse = (problem: KagziServerError) => {
      values.set(refusal, problem);
      const header = new Headers(req.header);
      header.delete("content-length");
      return handler({ ...req, header, body: once(new Uint8Array()), contextValues: values });
    };
    if (options.authenticate) {
      const scope = options.authenticate(handler.method.name, req.header);
      if (!("namespaces" in scope)) return refuse(scope);
      values.set(callerScope, scope);
    }
    const pass = (body: Request["body"]) => handler({ ...req, body, contextValues: values });
    const ct = (req.header.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const framing = /^application\/(grpc(-web)?(\+proto|\+json)?|connect\+(proto|json))$/.test(ct)
      ? "enveloped"
      : ct === "application/proto" || ct === "application/json"
      ? "connect"
      : undefined;
    // Other content types and methods are refused by Connect without reading the body.
    if (!framing || req.method !== "POST" || !isByteStream(req.body)) return pass(req.body);
    const json = ct.endsWith("json");
    const encoding = req.header.get(
      framing === "connect"
        ? "content-encoding"
        : ct.startsWith("application/connect")
        ? "connect-content-encoding"
        : "grpc-encoding",
    );
    const compression = encoding && encoding !== "identity"
      ? options.compression?.find((c) => c.name === encoding)
      : undefined;
    // An encoding the handler does not accept: Connect answers UNIMPLEMENTED unread.
    if (encoding && encoding !== "identity" && !compression) return pass(req.body);
    const limit = maxBytes + (framing === "enveloped" ? 5 : 0);
    const tooLarge = (size: string) =>
      new ResourceExhaustedError(
        "body",
        `Cannot accept the request: the body is ${size} bytes; the limit is ${maxBytes}`,
      );
    const declared = Number(req.header.get("content-length") ?? NaN);
    if (declared > limit) return refuse(tooLarge(String(declared)));
    const bytes = await collect(req.body, limit);
    if (!bytes) return refuse(tooLarge(`more than ${limit}`));
    let message: Uint8Array;
    if (framing === "enveloped") {
      const frame = readFrame(bytes, compression);
      if (frame instanceof InvalidArgumentError) return refuse(frame);
      message = frame.data;
    } else message = bytes;
    if (compression) {
      try {
        message = await compression.decompress(message, maxBytes);
      } catch (err) {
        const e = ConnectError.from(err);
        return refuse(
          e.code === Code.ResourceExhausted
            ? tooLarge(`more than ${maxBytes} (decompressed)`)
            : new InvalidArgumentError("body", `Cannot decompress the request body (${encoding})`),
        );
      }
    }
    const problem = json ? checkJson(message) : checkBinary(message);
    return problem ? refuse(problem) : pass(once(bytes));
  };

  function checkBinary(message: Uint8Array): KagziServerError | undefined {
    try {
      fromBinary(input, message);
      return undefined;
    } catch (err) {
      const field = invalidUtf8Field(input, message);
      return field
        ? new InvalidArgumentError(
          field,
          `Cannot decode ${input.typeName}: "${field}" is not valid UTF-8`,
        )
        : new InvalidArgumentError(
          "body",
          `Cannot decode the request body as ${input.typeName}: ${(err as Error).message}`,
        );
    }
  }

  function checkJson(message: Uint8Array): KagziServerError | undefined {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(message));
    } catch (err) {
      return new InvalidArgumentError(
        "body",
        `Cannot decode the request body as JSON for ${input.typeName}: ${(err as Error).message}`,
      );
    }
    const bad = findUnknownEnumName(input, json);
    return bad ? badFieldError(handler.method.name, bad) : undefined;
  }

  return Object.assign(guarded, {
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  }) as UniversalHandler;
}

/** Connect's request gate: raises the refusal found by {@linkcode guardDecoding}, unread. */
export function requestGate(
  log: (msg: string, err: unknown) => void,
): (context: HandlerContext) => void {
  return (context) => {
    const problem = context.values.get(refusal);
    if (problem) throw toConnectError(problem, log);
  };
}

/** The one message frame of a unary enveloped body, or why it is malformed. */
function readFrame(
  bytes: Uint8Array,
  compression: Compression | undefined,
): { data: Uint8Array } | InvalidArgumentError {
  const bad = (why: string) =>
    new InvalidArgumentError("body", `Cannot read the request's message frame: ${why}`);
  if (bytes.length < 5) return bad(`${bytes.length} bytes is shorter than a frame header (5)`);
  const flags = bytes[0];
  if ((flags & ~1) !== 0) {
    return bad(`unknown flags 0x${flags.toString(16).padStart(2, "0")} (only 0x01 is defined)`);
  }
  if ((flags & 1) === 1 && !compression) {
    return bad('the compressed flag is set but the request names no "grpc-encoding"');
  }
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (bytes.length < 5 + len) {
    return bad(`it declares ${len} bytes but ${bytes.length - 5} follow (truncated)`);
  }
  if (bytes.length > 5 + len) {
    return bad(`${bytes.length - 5 - len} bytes follow the message: a unary call takes one`);
  }
  return { data: bytes.subarray(5, 5 + len) };
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/** The whole body, or undefined as soon as it grows past `max` (the rest is not read). */
async function collect(
  body: AsyncIterable<Uint8Array>,
  max: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > max) return undefined;
    chunks.push(c);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
