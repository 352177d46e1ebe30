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
  const msg = message as Record<string, unknown>;
  for (const f of desc.fields) {
    if (f.name === skip) continue;
    let value: unknown;
    if (f.oneof) {
      const o = msg[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (o?.case !== f.localName) continue;
      value = o.value;
    } else value = msg[f.localName];
    if (value === undefined || value === null) continue;
    const bad = checkValue(f, value, prefix + f.name);
    if (bad) return bad;
  }
  return undefined;
}

function checkValue(f: DescField, value: unknown, path: string): BadField | undefined {
  const one = (kind: string, v: unknown, p: string, e?: DescEnum, m?: DescMessage) => {
    if (kind === "enum") {
      const problem = enumProblem(e!, v);
      return problem ? { field: p, problem } : undefined;
    }
    if (kind === "message") return findBadValue(m!, v, `${p}.`);
    if (typeof v === "string") {
      const problem = stringProblem(v);
      return problem ? { field: p, problem } : undefined;
    }
    return undefined;
  };
  switch (f.fieldKind) {
    case "scalar":
      return one("scalar", value, path);
    case "enum":
      return one("enum", value, path, f.enum);
    case "message":
      return one("message", value, path, undefined, f.message);
    case "list": {
      const list = value as unknown[];
      for (let i = 0; i < list.length; i++) {
        const bad = one(f.listKind, list[i], `${path}[${i}]`, f.enum, f.message);
        if (bad) return bad;
      }
      return undefined;
    }
    case "map": {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const keyProblem = f.mapKey === ScalarType.STRING ? stringProblem(k) : undefined;
        if (keyProblem) return { field: path, problem: `key ${show(k)} ${keyProblem}` };
        const bad = one(f.mapKind, v, path, f.enum, f.message);
        if (bad) {
          return bad.field === path
            ? { field: path, problem: `entry ${show(k)}: value ${bad.problem}` }
            : bad;
        }
      }
      return undefined;
    }
  }
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
