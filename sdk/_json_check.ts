/**
 * What survives a trip through JSON unchanged. Kagzi stores inputs, outputs and payloads as
 * JSON, and a replay sees the stored value, so a value that JSON would change (a Map becomes
 * `{}`, a Date a string, a class instance a plain object) would differ between the first
 * execution and a replay. Such values are refused where they are produced, naming where the
 * offending part sits. Round-trips: `null`, booleans, finite numbers, strings, arrays of
 * those, and plain objects (`{}` or `Object.create(null)`) of those; a property whose value is
 * `undefined` is left out, as JSON does.
 */

/** Why `value` would not come back from JSON as it is, or undefined when it would. */
export function jsonProblem(value: unknown): string | undefined {
  return problem(value, "", new Set());
}

function at(path: string): string {
  return path === "" ? "the value" : `at ${path}`;
}

function problem(v: unknown, path: string, open: Set<object>): string | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
    case "undefined":
      return undefined;
    case "number":
      return Number.isFinite(v)
        ? undefined
        : `${at(path)}: ${v} is not a JSON number (it would come back as null)`;
    case "bigint":
      return `${at(path)}: a BigInt (${v}n) has no JSON form; store it as a string or a number`;
    case "symbol":
    case "function":
      return `${at(path)}: a ${typeof v} has no JSON form`;
  }
  if (v === null) return undefined;
  const obj = v as object;
  if (open.has(obj)) return `${at(path)}: a circular reference has no JSON form`;
  if (Array.isArray(obj)) {
    open.add(obj);
    try {
      for (let i = 0; i < obj.length; i++) {
        const x = obj[i];
        if (x === undefined) {
          return `${at(`${path}[${i}]`)}: undefined in an array would come back as null`;
        }
        const p = problem(x, `${path}[${i}]`, open);
        if (p) return p;
      }
      return undefined;
    } finally {
      open.delete(obj);
    }
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) return classProblem(obj, path);
  open.add(obj);
  try {
    for (const [k, x] of Object.entries(obj)) {
      if (x === undefined) continue;
      const p = problem(
        x,
        `${path}${/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`,
        open,
      );
      if (p) return p;
    }
    return undefined;
  } finally {
    open.delete(obj);
  }
}

function classProblem(obj: object, path: string): string {
  if (obj instanceof Date) {
    return `${at(path)}: a Date would come back as a string; store date.toISOString()`;
  }
  if (obj instanceof Map) {
    return `${at(path)}: a Map would come back as {}; store Object.fromEntries(map) or [...map]`;
  }
  if (obj instanceof Set) return `${at(path)}: a Set would come back as {}; store [...set]`;
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
    return `${at(path)}: binary data (${obj.constructor.name}) has no faithful JSON form; ` +
      "store it as base64 text";
  }
  const name = typeof obj.constructor === "function" && obj.constructor.name
    ? obj.constructor.name
    : "object with a prototype";
  return `${at(path)}: ${
    /^[AEIOU]/.test(name) ? "an" : "a"
  } ${name} instance would come back as a plain object without its ` +
    "class; store a plain object";
}
