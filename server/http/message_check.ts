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
 * passes untouched. The checks of decoded values are in `services/_message_values.ts` (the
 * Report handler checks its items with them); this file holds the interceptor and the checks
 * of raw bodies, which the decode guard runs.
 */
import { type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Interceptor } from "@connectrpc/connect";
import {
  type BadField,
  badFieldError,
  enumProblem,
  findBadValue,
} from "../services/_message_values.ts";

/**
 * Fields of a request checked by its handler: a Report and a StartWorkflows answer each of
 * their items on their own, so one bad item must not refuse the others; a StartChild records a
 * bad child field as the child step's outcome (`services/_child_start.ts`), so the parent's
 * `ctx.child()` rejects with it instead of its worker retrying the start forever.
 */
const checkedByHandler: Record<string, readonly string[]> = {
  "kagzi.v1.ReportRequest": ["items"],
  "kagzi.v1.StartWorkflowsRequest": ["items"],
  "kagzi.v1.StartChildRequest": [
    "workflow_type",
    "workflow_id",
    "input",
    "version",
    "parent_close_policy",
    "retry_policy",
  ],
};

/** Refuses a request holding an unstorable string or an undefined enum value. */
export const messageCheckInterceptor: Interceptor = (next) => (req) => {
  if (!req.stream) {
    const input = req.method.input;
    const bad = findBadValue(input, req.message, "", checkedByHandler[input.typeName]);
    if (bad) throw badFieldError(req.method.name, bad);
  }
  return next(req);
};

/** Messages nested deeper than this are refused (protobuf-es decodes no deeper either). */
const maxDepth = 100;

/**
 * The first enum name in a JSON request that the schema does not define. (Read
 * with unknown fields ignored, as Connect does, such a name would be dropped.) A message
 * nested more than 100 deep (an error's causes) is refused too, before this walk could
 * exhaust the stack.
 */
export function findUnknownEnumName(
  desc: DescMessage,
  json: unknown,
  prefix = "",
  depth = 0,
): BadField | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  if (depth > maxDepth) {
    const field = prefix.length > 64 ? `${prefix.slice(0, 60)}...` : prefix.slice(0, -1);
    return { field, problem: `nests messages more than ${maxDepth} deep` };
  }
  // Well-known types have their own JSON forms and no enums of ours.
  if (desc.typeName.startsWith("google.protobuf.")) return undefined;
  for (const [key, value] of Object.entries(json)) {
    const f = desc.fields.find((x) => x.jsonName === key || x.name === key);
    if (!f || value === null) continue;
    const path = prefix + f.name;
    const one = (v: unknown, p: string): BadField | undefined => {
      if (f.fieldKind === "message" || (f.fieldKind !== "scalar" && f.message)) {
        return findUnknownEnumName(f.message!, v, `${p}.`, depth + 1);
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
