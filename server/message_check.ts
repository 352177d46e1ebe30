/**
 * Request checks that hold for every field of every RPC. They are driven by the
 * message descriptors, so new fields and new RPCs are covered without new code:
 *
 * - strings that Postgres cannot store (U+0000) or that are not Unicode
 *   (unpaired surrogates, which JSON `\ud800` escapes produce);
 * - enum values the schema does not define: numbers (binary or JSON) and, in
 *   JSON, names, which the JSON reader would otherwise drop silently (a dropped
 *   status filter would list everything);
 * - invalid UTF-8 in the string fields of a binary body (to name the field).
 *
 * Payload `data` is bytes: JSON text with `\u0000` inside it is user data and
 * passes untouched.
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Interceptor } from "@connectrpc/connect";
import { ReportItemSchema } from "@kagzi/proto";
import { InvalidArgumentError } from "./errors.ts";

/** A field whose value cannot be accepted, and why. */
export interface BadField {
  /** The field's path, e.g. `input.metadata` or `workflow_types[0].versions[1]`. */
  field: string;
  problem: string;
}

/**
 * Fields of a request checked elsewhere, item by item: a Report answers each of
 * its items on its own, so one bad item must not refuse the others.
 */
const checkedPerItem: Record<string, string> = { "kagzi.v1.ReportRequest": "items" };

/** Refuses a request holding an unstorable string or an undefined enum value. */
export const messageCheckInterceptor: Interceptor = (next) => (req) => {
  if (!req.stream) {
    const input = req.method.input;
    const bad = findBadValue(input, req.message, "", checkedPerItem[input.typeName]);
    if (bad) throw badFieldError(req.method.name, bad);
  }
  return next(req);
};

/** Checks one item of a Report as {@linkcode messageCheckInterceptor} checks a request. */
export function checkReportItem(item: unknown, index: number): void {
  const bad = findBadValue(ReportItemSchema, item, `items[${index}].`);
  if (bad) throw badFieldError("Report", bad);
}

/** The error for a bad field: INVALID_ARGUMENT naming it. */
export function badFieldError(method: string, bad: BadField): InvalidArgumentError {
  const op = method.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return new InvalidArgumentError(bad.field, `Cannot ${op}: "${bad.field}" ${bad.problem}`);
}

/** Why a string cannot be stored, if it cannot. */
export function stringProblem(s: string): string | undefined {
  if (s.includes("\0")) return "contains a NUL character (U+0000), which cannot be stored";
  if (!s.isWellFormed()) return "contains an unpaired UTF-16 surrogate: it is not valid Unicode";
  return undefined;
}

function enumProblem(e: DescEnum, value: unknown): string | undefined {
  if (e.values.some((v) => v.number === value)) return undefined;
  return `${show(value)} is not a ${e.name} value (one of ${
    e.values.map((v) => v.name).join(", ")
  })`;
}

function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 64 ? s.slice(0, 61) + "..." : s;
}

/** The first string or enum value of a decoded message that cannot be accepted. */
export function findBadValue(
  desc: DescMessage,
  message: unknown,
  prefix = "",
  skip?: string,
): BadField | undefined {
  const bad = badIn(desc, message, skip);
  return bad && prefix ? { field: prefix + bad.field, problem: bad.problem } : bad;
}

// Paths are built only on the way out of a failure: the common case allocates nothing.
function badIn(desc: DescMessage, message: unknown, skip?: string): BadField | undefined {
  const msg = message as Record<string, unknown>;
  for (const f of relevantFields(desc)) {
    if (f.name === skip) continue;
    let value: unknown;
    if (f.oneof) {
      const o = msg[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (o?.case !== f.localName) continue;
      value = o.value;
    } else value = msg[f.localName];
    if (value === undefined || value === null) continue;
    const bad = checkValue(f, value);
    if (bad) return { field: f.name + bad.field, problem: bad.problem };
  }
  return undefined;
}

/** A field's problem, with a path relative to the field ("" for the field itself). */
function checkValue(f: DescField, value: unknown): BadField | undefined {
  switch (f.fieldKind) {
    case "scalar":
      return checkOne("scalar", value, f);
    case "enum":
    case "message":
      return checkOne(f.fieldKind, value, f);
    case "list": {
      const list = value as unknown[];
      for (let i = 0; i < list.length; i++) {
        const bad = checkOne(f.listKind, list[i], f);
        if (bad) return { field: `[${i}]${bad.field}`, problem: bad.problem };
      }
      return undefined;
    }
    case "map": {
      for (const k in value as Record<string, unknown>) {
        const keyProblem = f.mapKey === ScalarType.STRING ? stringProblem(k) : undefined;
        if (keyProblem) return { field: "", problem: `key ${show(k)} ${keyProblem}` };
        const bad = checkOne(f.mapKind, (value as Record<string, unknown>)[k], f);
        if (bad) {
          return bad.field === ""
            ? { field: "", problem: `entry ${show(k)}: value ${bad.problem}` }
            : bad;
        }
      }
      return undefined;
    }
  }
}

function checkOne(kind: string, v: unknown, f: DescField): BadField | undefined {
  if (kind === "enum") {
    const e = f.enum!;
    if (e.value[v as number] !== undefined) return undefined;
    return { field: "", problem: enumProblem(e, v)! };
  }
  if (kind === "message") {
    const bad = badIn(f.message!, v);
    return bad && { field: `.${bad.field}`, problem: bad.problem };
  }
  if (typeof v !== "string") return undefined;
  const problem = stringProblem(v);
  return problem ? { field: "", problem } : undefined;
}

const relevant = new Map<DescMessage, DescField[]>();

/** The fields of `desc` that can hold a string or an enum, at any depth (cached). */
function relevantFields(desc: DescMessage): DescField[] {
  let fields = relevant.get(desc);
  if (fields) return fields;
  relevant.set(desc, desc.fields); // assume all while computing (recursive types)
  fields = desc.fields.filter((f) => {
    if (f.fieldKind === "enum" || f.enum) return true;
    if (f.fieldKind === "map" && f.mapKey === ScalarType.STRING) return true;
    if (f.message) return relevantFields(f.message).length > 0;
    return f.scalar === ScalarType.STRING;
  });
  relevant.set(desc, fields);
  return fields;
}

/**
 * The first enum name in a JSON request that the schema does not define. (Read
 * with unknown fields ignored, as Connect does, such a name would be dropped.)
 */
export function findUnknownEnumName(
  desc: DescMessage,
  json: unknown,
  prefix = "",
): BadField | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  // Well-known types have their own JSON forms and no enums of ours.
  if (desc.typeName.startsWith("google.protobuf.")) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const f = desc.fields.find((x) => x.jsonName === key || x.name === key);
    if (!f || value === null) continue;
    const path = prefix + f.name;
    const one = (v: unknown, p: string): BadField | undefined => {
      if (f.fieldKind === "message" || (f.fieldKind !== "scalar" && f.message)) {
        return findUnknownEnumName(f.message!, v, `${p}.`);
      }
      if (f.enum && typeof v === "string" && !f.enum.values.some((x) => x.name === v)) {
        return { field: p, problem: enumProblem(f.enum, v)! };
      }
      return undefined;
    };
    if (f.fieldKind === "list" && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const bad = one(value[i], `${path}[${i}]`);
        if (bad) return bad;
      }
    } else if (f.fieldKind === "map" && typeof value === "object") {
      for (const v of Object.values(value as object)) {
        const bad = one(v, path);
        if (bad) return bad;
      }
    } else if (f.fieldKind === "enum" || f.fieldKind === "message") {
      const bad = one(value, path);
      if (bad) return bad;
    }
  }
  return undefined;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function validUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The path of the first string field (or map key/value) of a binary message holding invalid UTF-8. */
export function invalidUtf8Field(
  desc: DescMessage,
  bytes: Uint8Array,
  prefix = "",
): string | undefined {
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
        if (field.fieldKind === "list" && field.listKind === "message") {
          const inner = invalidUtf8Field(field.message, data, `${path}.`);
          if (inner) return inner;
        }
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
