/**
 * The value checks behind the transport's message check (`http/message_check.ts`), driven by the
 * message descriptors: strings that Postgres cannot store (U+0000) or that are not Unicode, and
 * enum values the schema does not define. Here, not in the transport, because the Report handler
 * checks its items one by one with them ({@linkcode checkReportItem}).
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { ReportItemSchema } from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";

/** A field whose value cannot be accepted, and why. */
export interface BadField {
  /** The field's path, e.g. `input.metadata` or `workflow_types[0].versions[1]`. */
  field: string;
  problem: string;
}

/** Checks one item of a Report as the transport's message check checks a request. */
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

/** Why `value` is not a value of the enum `e`, if it is not. */
export function enumProblem(e: DescEnum, value: unknown): string | undefined {
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
  skip?: readonly string[],
): BadField | undefined {
  const bad = badIn(desc, message, skip);
  return bad && prefix ? { field: prefix + bad.field, problem: bad.problem } : bad;
}

// Paths are built only on the way out of a failure: the common case allocates nothing.
function badIn(
  desc: DescMessage,
  message: unknown,
  skip?: readonly string[],
): BadField | undefined {
  const msg = message as Record<string, unknown>;
  for (const f of relevantFields(desc)) {
    if (skip?.includes(f.name)) continue;
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
