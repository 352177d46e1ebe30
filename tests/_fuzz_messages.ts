/**
 * fast-check arbitraries for hostile `kagzi.v1` requests, built from the message
 * descriptors so every field of every RPC (including ones added later) is covered:
 * NUL characters, unpaired surrogates, control characters, long strings, extreme
 * and negative numbers, enum numbers the schema does not define, timestamps out of
 * range, JSON text with `\u0000` inside payload data.
 */
import fc from "fast-check";
import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import * as proto from "@kagzi/proto";

/**
 * Every unary method of every service the proto package exports (new ones are picked up). A
 * server-streaming method (ReadStream) answers a well-formed request with a live stream, not one
 * message: its hostile input is `tests/stream_hostile_test.ts`'s.
 */
export function allMethods(): DescMethod[] {
  const services = (Object.values(proto) as unknown[]).filter((v): v is DescService =>
    typeof v === "object" && v !== null && (v as { kind?: string }).kind === "service"
  );
  return services.flatMap((s) => s.methods).filter((m) => m.methodKind === "unary");
}

const enc = new TextEncoder();

const int32 = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.constantFrom(0, 1, -1, 2 ** 31 - 1, -(2 ** 31)),
);
const uint32 = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 2 ** 32 - 1));
const int64 = fc.oneof(
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  fc.constantFrom(0n, 1n, -1n, (1n << 63n) - 1n, -(1n << 63n)),
);
const uint64 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.constantFrom(0n, (1n << 64n) - 1n),
);
const double = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0, 1.5, 2));

/** Strings a hostile caller sends: plausible, NUL-bearing, surrogates, controls, long. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      "",
      "t",
      "default",
      "fuzz",
      "other",
      "* * * * *",
      "0 6 * * *",
      "UTC",
      "Mars/Olympus",
    ),
  },
  { weight: 3, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }))
      .map(([a, b]) => `${a}\u0000${b}`),
  },
  { weight: 1, arbitrary: fc.constantFrom("\ud800", "a\udfffb", "\u0001\u001f\u007f", "\uFFFD") },
  { weight: 1, arbitrary: fc.integer({ min: 257, max: 200_000 }).map((n) => "x".repeat(n)) },
);

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  fc.constantFrom(
    new Uint8Array(),
    enc.encode('{"s":"x\\u0000y"}'),
    enc.encode('"\\ud800"'),
    enc.encode("null"),
  ),
);

function scalar(f: { scalar: ScalarType; name: string }): fc.Arbitrary<unknown> {
  switch (f.scalar) {
    case ScalarType.STRING:
      if (f.name === "namespace") {
        return fc.oneof(fc.constantFrom("", "default", "fuzz", "other"), hostileText);
      }
      if (f.name.endsWith("_id")) return fc.oneof(fc.uuid(), hostileText);
      return hostileText;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return bytes;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return double;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return int64;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return uint64;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return uint32;
    default:
      return int32;
  }
}

function enumValue(e: DescEnum): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...e.values.map((v) => v.number)) },
    { weight: 1, arbitrary: fc.constantFrom(99, -1, 1000) },
  );
}

const timeLike = (min: bigint, max: bigint) =>
  fc.record({
    seconds: fc.oneof(
      { weight: 8, arbitrary: fc.bigInt({ min, max }) },
      { weight: 1, arbitrary: fc.constantFrom(-(1n << 62n), 1n << 62n, -1n) },
    ),
    nanos: fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(-1, 2 ** 31 - 1)),
  });

const wellKnown: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  "google.protobuf.Timestamp": timeLike(-62135596800n, 253402300799n),
  "google.protobuf.Duration": timeLike(-315576000000n, 315576000000n),
};

const cache = new Map<string, fc.Arbitrary<Message>>();

/** A message of type `desc`, every field absent or holding a hostile value. */
export function arbMessage(desc: DescMessage, depth = 0): fc.Arbitrary<Message> {
  const key = `${desc.typeName}@${depth}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const special = wellKnown[desc.typeName];
  const members: Record<string, fc.Arbitrary<unknown>> = {};
  if (!special) {
    for (const m of desc.members) {
      if (m.kind === "oneof") {
        members[m.localName] = fc.oneof(
          fc.constant(undefined),
          ...m.fields.map((f) => field(f, depth).map((value) => ({ case: f.localName, value }))),
        );
      } else {
        members[m.localName] = fc.oneof(fc.constant(undefined), field(m, depth));
      }
    }
  }
  const arb = (special ?? fc.record(members)).map((init) =>
    create(
      desc,
      Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined)),
    ) as Message
  );
  cache.set(key, arb);
  return arb;
}

function field(f: DescField, depth: number): fc.Arbitrary<unknown> {
  const deeper = depth >= 3;
  const one = (kind: string, e?: DescEnum, m?: DescMessage): fc.Arbitrary<unknown> => {
    if (kind === "enum") return enumValue(e!);
    if (kind === "message") return deeper ? fc.constant(undefined) : arbMessage(m!, depth + 1);
    return scalar(f as { scalar: ScalarType; name: string });
  };
  switch (f.fieldKind) {
    case "scalar":
      return one("scalar");
    case "enum":
      return one("enum", f.enum);
    case "message":
      return one("message", undefined, f.message);
    case "list":
      return fc.array(one(f.listKind, f.enum, f.message), { maxLength: 3 })
        .map((a) => a.filter((x) => x !== undefined));
    case "map":
      return fc.dictionary(
        fc.oneof(fc.constantFrom("encoding", "k"), hostileText.filter((s) => s.length < 300)),
        one(f.mapKind, f.enum, f.message),
        { maxKeys: 3 },
      ).map((d) => Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)));
  }
}

/**
 * Whether the server must refuse this decoded request as INVALID_ARGUMENT for its
 * content alone: a string holding U+0000 or an unpaired surrogate, or an enum number
 * the schema does not define. (The items of a Report and of a StartWorkflows are answered one
 * by one instead.)
 */
export function refusedForContent(desc: DescMessage, message: unknown): boolean {
  const skip = perItem.has(desc.typeName) ? "items" : undefined;
  return hostile(desc, message, skip);
}

const perItem = new Set(["kagzi.v1.ReportRequest", "kagzi.v1.StartWorkflowsRequest"]);

function hostile(desc: DescMessage, message: unknown, skip?: string): boolean {
  const msg = message as Record<string, unknown>;
  const bad = (f: DescField, kind: string, v: unknown): boolean => {
    if (typeof v === "string") return v.includes("\0") || !v.isWellFormed();
    if (kind === "enum") return !f.enum!.values.some((x) => x.number === v);
    if (kind === "message" && v) return hostile(f.message!, v);
    return false;
  };
  for (const f of desc.fields) {
    if (f.name === skip) continue;
    let v: unknown = msg[f.localName];
    if (f.oneof) {
      const o = msg[f.oneof.localName] as { case?: string; value?: unknown };
      if (o?.case !== f.localName) continue;
      v = o.value;
    }
    if (v === undefined) continue;
    if (f.fieldKind === "list") {
      if ((v as unknown[]).some((x) => bad(f, f.listKind, x))) return true;
    } else if (f.fieldKind === "map") {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k.includes("\0") || !k.isWellFormed() || bad(f, f.mapKind, x)) return true;
      }
    } else if (bad(f, f.fieldKind, v)) return true;
  }
  return false;
}
