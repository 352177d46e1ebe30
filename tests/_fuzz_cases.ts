/**
 * The classes of hostile requests the fuzz test sends, each with the answer it must
 * get. Order of the server's checks, which decides the expected code: key (before
 * the body is read) → size → framing and decoding → namespace scope → content.
 */
import fc from "fast-check";
import {
  type DescMessage,
  type DescMethod,
  fromBinary,
  type Message,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { arbMessage, refusedForContent } from "./_fuzz_messages.ts";
import {
  contentTypes,
  envelope,
  enveloped,
  type Protocol,
  type WireRequest,
} from "./_fuzz_wire.ts";

/** The largest message the server accepts (server/mod.ts maxRequestBytes). */
export const maxRequestBytes = 8 * 1024 * 1024;

/** Keys the fuzzed server is started with. */
export const keys = {
  admin: "fuzz-admin-key-0123456789",
  scoped: "fuzz-scoped-key-0123456789",
  /** The value of KAGZI_API_KEYS. */
  config: "fuzz-admin-key-0123456789=*;fuzz-scoped-key-0123456789=fuzz",
};

/** One generated request and what it must be answered. */
export interface Case extends WireRequest {
  cls: string;
  rpc: string;
  /** The codes this request must get; undefined: any code that is not a server fault. */
  expect?: string[];
  /** Answers that are no fault for this class although they would be for others. */
  allow?: string[];
}

const enc = new TextEncoder();
const rpcPath = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;
const auth = (key = keys.admin) => ({ authorization: `Bearer ${key}` });

/** Encodes `msg` for `protocol`, or undefined when JSON cannot express it (e.g. a year 0 time). */
function encode(desc: DescMessage, msg: Message, protocol: Protocol, unknown: boolean) {
  if (protocol === "connect-json") {
    let json: string;
    try {
      json = toJsonString(desc, msg);
    } catch {
      return undefined;
    }
    if (unknown) {
      json = json.replace(/^\{/, json === "{}" ? '{"zzzUnknown":[1]' : '{"zzzUnknown":[1],');
    }
    return { body: enc.encode(json), decoded: msg };
  }
  let bin = toBinary(desc, msg);
  // Field 999, varint 1: unknown to the schema, skipped by a reader.
  if (unknown) bin = new Uint8Array([...bin, 0xb8, 0x3e, 0x01]);
  return {
    body: enveloped(protocol) ? envelope(bin) : bin,
    decoded: fromBinary(desc, bin),
  };
}

const sized = (c: Case): Case =>
  c.body.length > maxRequestBytes + 5 ? { ...c, expect: ["resource_exhausted"] } : c;

/** A well-framed message with hostile field values (and maybe an unknown field). */
function messageCase(m: DescMethod, protocol: Protocol): fc.Arbitrary<Case | undefined> {
  return fc.tuple(arbMessage(m.input), fc.boolean()).map(([msg, unknown]) => {
    const e = encode(m.input, msg, protocol, unknown);
    if (!e) return undefined;
    return sized({
      cls: "message",
      rpc: rpcPath(m),
      protocol,
      path: rpcPath(m),
      headers: { "content-type": contentTypes[protocol], ...auth() },
      body: e.body,
      expect: refusedForContent(m.input, e.decoded) ? ["invalid_argument"] : undefined,
    });
  });
}

/** The JSON key paths (by JSON name) to enum fields, through singular message fields. */
function enumPaths(desc: DescMessage, depth = 0): string[][] {
  if (depth > 3 || desc.typeName.startsWith("google.protobuf.")) return [];
  return desc.fields.flatMap((f) =>
    f.fieldKind === "enum"
      ? [[f.jsonName]]
      : f.fieldKind === "message"
      ? enumPaths(f.message, depth + 1).map((p) => [f.jsonName, ...p])
      : []
  );
}

const notAMessage = [
  "",
  "{",
  "[]",
  "null",
  "1",
  '"s"',
  '{"a":',
  "{}}",
  "[".repeat(5000) + "]".repeat(5000),
];

/** JSON that is not a valid request: wrong types, undefined enum names, not a message. */
function jsonCase(m: DescMethod): fc.Arbitrary<Case | undefined> {
  const paths = enumPaths(m.input);
  return fc.tuple(
    arbMessage(m.input),
    fc.constantFrom("wrong-type", "bad-enum-name", "not-a-message", "invalid-utf8"),
    fc.nat(),
  ).map(([msg, kind, pick]) => {
    let body: Uint8Array;
    if (kind === "not-a-message") body = enc.encode(notAMessage[pick % notAMessage.length]);
    else if (kind === "invalid-utf8") body = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    else {
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(toJsonString(m.input, msg));
      } catch {
        return undefined;
      }
      if (kind === "bad-enum-name" && paths.length) {
        const path = paths[pick % paths.length];
        let at = json;
        for (const key of path.slice(0, -1)) {
          if (typeof at[key] !== "object" || at[key] === null) at[key] = {};
          at = at[key] as Record<string, unknown>;
        }
        at[path.at(-1)!] = "BOGUS_ENUM_VALUE_NAME";
      } else {
        const fields = m.input.fields;
        if (!fields.length) return undefined;
        json[fields[pick % fields.length].jsonName] = [["x"]];
      }
      body = enc.encode(JSON.stringify(json));
    }
    return sized({
      cls: `json-${kind}`,
      rpc: rpcPath(m),
      protocol: "connect-json" as const,
      path: rpcPath(m),
      headers: { "content-type": "application/json", ...auth() },
      body,
      expect: ["invalid_argument"],
    });
  });
}

/** Random bytes as a binary message (well framed when the protocol frames). */
function bytesCase(m: DescMethod, protocol: Protocol): fc.Arbitrary<Case> {
  return fc.uint8Array({ maxLength: 200 }).map((raw) => {
    let expect: string[] | undefined = ["invalid_argument"];
    try {
      expect = refusedForContent(m.input, fromBinary(m.input, raw))
        ? ["invalid_argument"]
        : undefined;
    } catch { /* not a message: invalid_argument */ }
    return {
      cls: "random-bytes",
      rpc: rpcPath(m),
      protocol,
      path: rpcPath(m),
      headers: { "content-type": contentTypes[protocol], ...auth() },
      body: enveloped(protocol) ? envelope(raw) : raw,
      expect,
    };
  });
}

/** Malformed 5-byte envelopes: short, truncated, extra bytes, flags, encodings. */
function frameCase(m: DescMethod, protocol: "grpc-web" | "grpc"): fc.Arbitrary<Case> {
  const base = (cls: string, body: Uint8Array, expect: string[], headers = {}): Case => ({
    cls: `frame-${cls}`,
    rpc: rpcPath(m),
    protocol,
    path: rpcPath(m),
    headers: { "content-type": contentTypes[protocol], ...auth(), ...headers },
    body,
    expect,
    allow: expect.includes("unimplemented") ? ["unimplemented"] : undefined,
  });
  const msg = fc.uint8Array({ maxLength: 64 });
  return fc.oneof(
    fc.uint8Array({ maxLength: 4 }).map((b) => base("short", b, ["invalid_argument"])),
    fc.tuple(msg, fc.integer({ min: 1, max: 1 << 30 })).map(([b, more]) =>
      base("truncated", envelope(b, 0, b.length + more), ["invalid_argument"])
    ),
    fc.tuple(msg, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([b, extra]) =>
      base("extra-bytes", new Uint8Array([...envelope(b), ...extra]), ["invalid_argument"])
    ),
    fc.tuple(msg, fc.constantFrom(0x01, 0x02, 0x7f, 0x80, 0xff, 0x41)).map(([b, flags]) =>
      base(`flags-0x${flags.toString(16)}`, envelope(b, flags), ["invalid_argument"])
    ),
    fc.tuple(msg, fc.constantFrom("br", "snappy", "deflate", "x-bogus")).map(([b, name]) =>
      base("unsupported-encoding", envelope(b, 1), ["unimplemented"], { "grpc-encoding": name })
    ),
    // Not gzip (an empty compressed message is an empty message, so at least one byte).
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) =>
      base(
        "gzip-garbage",
        envelope(b, 1),
        // Native gRPC accepts gzip (the bytes are not gzip); the fetch listener accepts none.
        protocol === "grpc" ? ["invalid_argument"] : ["unimplemented"],
        { "grpc-encoding": "gzip" },
      )
    ),
  );
}

/** Content types and HTTP methods no handler serves. */
function contentTypeCase(m: DescMethod, protocol: Protocol): fc.Arbitrary<Case> {
  const types = [
    "text/plain",
    "application/xml",
    "application/grpc-web-text",
    "application/connect+json",
    "application/x-www-form-urlencoded",
    "",
  ];
  return fc.tuple(
    fc.constantFrom(...types),
    fc.constantFrom("POST", "POST", "GET", "PUT", "DELETE"),
    fc.uint8Array({ maxLength: 32 }),
  ).map(([type, method, body]) => ({
    cls: "content-type",
    rpc: rpcPath(m),
    protocol: protocol === "grpc" ? "grpc" : "connect-proto",
    path: rpcPath(m),
    method: protocol === "grpc" ? undefined : method,
    headers: { ...(type ? { "content-type": type } : {}), ...auth() },
    body,
    // Another HTTP method is not allowed (405); a POST of a content type no protocol speaks is
    // refused as such (415, with or without a Connect error body; gRPC's status when it has none).
    expect: protocol !== "grpc" && method !== "POST"
      ? ["http-405"]
      : ["http-415", "invalid_argument"],
  }));
}

/** Requests without an accepted key, and requests outside the scoped key's namespaces. */
function authCase(m: DescMethod, protocol: Protocol): fc.Arbitrary<Case | undefined> {
  const badHeaders: Record<string, string>[] = [
    {},
    { authorization: "Bearer not-a-key-of-this-server" },
    { authorization: `Basic ${keys.admin}` },
    { authorization: "Bearer" },
    { authorization: `Bearer ${keys.admin}x` },
  ];
  const binary: Protocol = protocol === "connect-json" ? "connect-proto" : protocol;
  return fc.tuple(messageCase(m, binary), fc.nat(badHeaders.length)).map(([c, pick]) => {
    if (!c) return undefined;
    const { authorization: _, ...rest } = c.headers;
    if (pick < badHeaders.length) {
      return {
        ...c,
        cls: "no-key",
        headers: { ...rest, ...badHeaders[pick] },
        expect: ["unauthenticated"],
      };
    }
    // The scoped key covers only "fuzz": any other namespace is denied, whatever the content.
    const hasNamespace = m.input.fields.some((f) => f.name === "namespace");
    const other = hasNamespace ? fromBinary(m.input, unframe(c)) : undefined;
    if (other) (other as unknown as { namespace: string }).namespace = "other";
    const bin = other ? toBinary(m.input, other) : unframe(c);
    return sized({
      ...c,
      cls: "scoped-key",
      headers: { ...rest, ...auth(keys.scoped) },
      body: enveloped(binary) ? envelope(bin) : bin,
      expect: hasNamespace ? ["permission_denied"] : c.expect,
    });
  });
}

function unframe(c: Case): Uint8Array {
  return enveloped(c.protocol) ? c.body.subarray(5) : c.body;
}

/** Any hostile request to any method on any protocol. */
export function arbCase(methods: DescMethod[], protocols: readonly Protocol[]): fc.Arbitrary<Case> {
  return fc.tuple(fc.constantFrom(...methods), fc.constantFrom(...protocols)).chain(([m, p]) =>
    fc.oneof(
      { weight: 6, arbitrary: messageCase(m, p) },
      { weight: 2, arbitrary: p === "connect-json" ? jsonCase(m) : bytesCase(m, p) },
      {
        weight: 2,
        arbitrary: p === "grpc-web" || p === "grpc" ? frameCase(m, p) : jsonCase(m),
      },
      { weight: 1, arbitrary: contentTypeCase(m, p) },
      { weight: 2, arbitrary: authCase(m, p) },
    ).filter((c): c is Case => c !== undefined)
  );
}
