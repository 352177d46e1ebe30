import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ErrorCode, type ErrorDetail, ErrorDetailSchema } from "@kagzi/proto";
import {
  errorDetailOf,
  KagziError,
  type KagziErrorCode,
  maxStoredCauses,
  StepFailedError,
} from "./errors.ts";

const codes: Record<KagziErrorCode, ErrorCode> = {
  NOT_FOUND: ErrorCode.NOT_FOUND,
  INVALID_ARGUMENT: ErrorCode.INVALID_ARGUMENT,
  PRECONDITION_FAILED: ErrorCode.PRECONDITION_FAILED,
  CONFLICT: ErrorCode.CONFLICT,
  UNAUTHORIZED: ErrorCode.UNAUTHORIZED,
  UNAVAILABLE: ErrorCode.UNAVAILABLE,
  INTERNAL: ErrorCode.INTERNAL,
  TIMEOUT: ErrorCode.TIMEOUT,
  APPLICATION: ErrorCode.APPLICATION,
  RESOURCE_EXHAUSTED: ErrorCode.RESOURCE_EXHAUSTED,
  PERMISSION_DENIED: ErrorCode.PERMISSION_DENIED,
  CANCELLED: ErrorCode.CANCELLED,
};

/**
 * Anything thrown by user code, as the ErrorDetail stored for the step or run, with its cause
 * chain (`Error.cause`, up to {@linkcode maxStoredCauses} deep) unless `causes` is false. Its text
 * is made storable: NUL characters (which the server refuses, as Postgres cannot store them) and
 * unpaired surrogates become U+FFFD; and its sizes are bounded as the server bounds them, so that
 * the error built from it on the first execution is the one a replay builds from the stored copy.
 */
export function toErrorDetail(e: unknown, causes = true): ErrorDetail {
  const d = bounded(detailOf(e, 0, new Set([e])), 0);
  if (!causes) d.cause = undefined;
  return d;
}

function detailOf(e: unknown, depth: number, seen: Set<unknown>): ErrorDetail {
  try {
    return rawErrorDetail(e, depth, seen);
  } catch {
    // An Error whose fields throw or are not text: what can be printed of it.
    return create(ErrorDetailSchema, { code: ErrorCode.APPLICATION, message: describe(e) });
  }
}

// The server's limits (server/services/_validate.ts errorDetail), the smaller ones for causes.
const limits = [
  { message: 8192, stack: 16384, entries: 32, value: 4096 },
  { message: 4096, stack: 8192, entries: 8, value: 1024 },
];

function bounded(d: ErrorDetail, depth: number): ErrorDetail {
  const max = limits[depth ? 1 : 0];
  const text = (s: string, n: number) => clip(storable(s), n);
  return create(ErrorDetailSchema, {
    code: d.code === ErrorCode.UNSPECIFIED ? ErrorCode.APPLICATION : d.code,
    message: text(d.message, max.message),
    nonRetryable: d.nonRetryable,
    retryAfter: depth ? undefined : d.retryAfter,
    subject: text(d.subject, 256),
    subjectId: text(d.subjectId, 256),
    metadata: Object.fromEntries(
      Object.entries(d.metadata).slice(0, max.entries)
        .map(([k, v]) => [text(k, 256), text(v, max.value)]),
    ),
    name: text(d.name, 256),
    stack: text(d.stack, max.stack),
    cause: d.cause && depth < maxStoredCauses ? bounded(d.cause, depth + 1) : undefined,
  });
}

function storable(s: string): string {
  return s.replaceAll("\0", "\uFFFD").toWellFormed();
}

/** The first `max` UTF-16 units of `s`, not splitting a surrogate pair (as the server clips). */
function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

function rawErrorDetail(e: unknown, depth: number, seen: Set<unknown>): ErrorDetail {
  // The step's own error, named as it was (its cause too), with the step in the message.
  if (e instanceof StepFailedError) {
    const detail = errorDetailOf(e);
    if (detail) return { ...detail, message: e.message };
  }
  if (e instanceof KagziError) {
    return create(ErrorDetailSchema, {
      code: codes[e.code],
      message: e.message,
      name: e.name,
      nonRetryable: e.nonRetryable,
      retryAfter: e.retryAfter === undefined ? undefined : durationFromMs(e.retryAfter),
      subject: e.subject,
      subjectId: e.subjectId,
      metadata: e.metadata,
      stack: e.stack ?? "",
      cause: causeOf(e, depth, seen),
    });
  }
  if (e instanceof Error) {
    return create(ErrorDetailSchema, {
      code: ErrorCode.APPLICATION,
      message: String(e.message),
      name: String(e.name),
      stack: typeof e.stack === "string" ? e.stack : "",
      cause: causeOf(e, depth, seen),
    });
  }
  // Not an Error (a string, a number, a plain or circular object, a BigInt, …): a normal
  // failure all the same, described as well as it can be.
  return create(ErrorDetailSchema, {
    code: ErrorCode.APPLICATION,
    message: describe(e),
    name: "Error",
  });
}

/**
 * The detail of `e.cause` (an Error or any other value, as a thrown one), none when it is
 * undefined or null, already in the chain, or {@linkcode maxStoredCauses} deep.
 */
function causeOf(e: Error, depth: number, seen: Set<unknown>): ErrorDetail | undefined {
  let cause: unknown;
  try {
    cause = e.cause;
  } catch {
    return undefined;
  }
  if (cause === undefined || cause === null || depth >= maxStoredCauses || seen.has(cause)) {
    return undefined;
  }
  seen.add(cause);
  return detailOf(cause, depth + 1, seen);
}

/**
 * A thrown value as text: a string as itself, anything else as JSON where it can be (cycles
 * shown as "[Circular]", BigInts as `12n`), else `String()`. Never throws.
 */
export function describe(e: unknown): string {
  if (typeof e === "string") return e;
  if (typeof e === "bigint") return `${e}n`;
  if (typeof e === "object" && e !== null && !(e instanceof Error)) {
    try {
      const open: unknown[] = [];
      const text = JSON.stringify(e, function (this: unknown, _k, v: unknown) {
        // `open` holds the objects on the path from the root to this one.
        while (open.length && open[open.length - 1] !== this) open.pop();
        if (typeof v === "bigint") return `${v}n`;
        if (typeof v === "object" && v !== null) {
          if (open.includes(v)) return "[Circular]";
          open.push(v);
        }
        return v;
      });
      if (text !== undefined) return text;
    } catch { /* fall through to String() */ }
  }
  try {
    return String(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}
