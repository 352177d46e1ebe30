/**
 * Decodes binary request bodies before Connect does, so a body that is not a
 * valid message (garbage, truncated, invalid UTF-8 in a string field) is
 * answered INVALID_ARGUMENT naming the field, instead of Connect's INTERNAL
 * "parse binary" error, on every protocol.
 */
import { type DescMessage, fromBinary, ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { createContextKey, createContextValues, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { InvalidArgumentError } from "./errors.ts";

/** The reason a request body could not be decoded, for the interceptor to raise. */
const decodeError = createContextKey<InvalidArgumentError | undefined>(undefined);

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Wraps a handler so undecodable binary bodies reach the interceptor as a named error. */
export function guardDecoding(handler: UniversalHandler, maxBytes: number): UniversalHandler {
  const guarded = async (req: Parameters<UniversalHandler>[0]) => {
    const ct = (req.header.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const enveloped = /^application\/grpc(-web)?(\+proto)?$/.test(ct);
    if (!(enveloped || ct === "application/proto") || !isByteStream(req.body)) return handler(req);
    const bytes = await collect(req.body, maxBytes + 5);
    if (!bytes) return handler(req); // too large: Connect's own limit answers
    let message = bytes;
    if (enveloped) {
      if (bytes.length < 5 || (bytes[0] & 1) === 1) return handler({ ...req, body: once(bytes) });
      const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(1);
      message = bytes.subarray(5, 5 + len);
    }
    try {
      fromBinary(handler.method.input, message);
      return handler({ ...req, body: once(bytes) });
    } catch (err) {
      const field = invalidUtf8Field(handler.method.input, message);
      const problem = field
        ? new InvalidArgumentError(
          field,
          `Cannot decode ${handler.method.input.typeName}: "${field}" is not valid UTF-8`,
        )
        : new InvalidArgumentError(
          "body",
          `Cannot decode the request body as ${handler.method.input.typeName}: ${
            (err as Error).message
          }`,
        );
      const empty = enveloped ? new Uint8Array(5) : new Uint8Array();
      const values = req.contextValues ?? createContextValues();
      values.set(decodeError, problem);
      const header = new Headers(req.header);
      header.delete("content-length");
      return handler({ ...req, header, body: once(empty), contextValues: values });
    }
  };
  return Object.assign(guarded, {
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  }) as UniversalHandler;
}

/** Raises the decode problem found by {@linkcode guardDecoding}; must run before the handler. */
export const decodeErrorInterceptor: Interceptor = (next) => (req) => {
  const problem = req.contextValues.get(decodeError);
  if (problem) throw problem;
  return next(req);
};

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

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

/** The path of the first string field (or map key/value) holding invalid UTF-8, if any. */
function invalidUtf8Field(desc: DescMessage, bytes: Uint8Array, prefix = ""): string | undefined {
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const [no, wireType] = reader.tag();
      const field = desc.fields.find((f) => f.number === no);
      if (!field || wireType !== WireType.LengthDelimited) {
        reader.skip(wireType, no);
        continue;
      }
      const data = reader.bytes();
      const path = prefix + field.name;
      if (field.fieldKind === "scalar" || field.fieldKind === "list") {
        if (field.scalar === ScalarType.STRING && !validUtf8(data)) return path;
      } else if (field.fieldKind === "message") {
        const inner = invalidUtf8Field(field.message, data, `${path}.`);
        if (inner) return inner;
      } else if (field.fieldKind === "map") {
        const entry = new BinaryReader(data);
        while (entry.pos < entry.len) {
          const [eno, ewt] = entry.tag();
          if (ewt !== WireType.LengthDelimited) {
            entry.skip(ewt, eno);
            continue;
          }
          const part = entry.bytes();
          if (field.mapKind === "message" && eno === 2) {
            const inner = invalidUtf8Field(field.message, part, `${path}.`);
            if (inner) return inner;
          } else if (!validUtf8(part)) return path;
        }
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function validUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
