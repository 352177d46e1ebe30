import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ErrorCode, type ErrorDetail, ErrorDetailSchema } from "@kagzi/proto";
import { errorDetailOf, KagziError, type KagziErrorCode, StepFailedError } from "./errors.ts";

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
 * Anything thrown by user code, as the ErrorDetail stored for the step or run. Its text
 * is made storable: NUL characters (which the server refuses, as Postgres cannot store
 * them) and unpaired surrogates become U+FFFD.
 */
export function toErrorDetail(e: unknown): ErrorDetail {
  let d: ErrorDetail;
  try {
    d = rawErrorDetail(e);
  } catch {
    // An Error whose fields throw or are not text: what can be printed of it.
    d = create(ErrorDetailSchema, { code: ErrorCode.APPLICATION, message: describe(e) });
  }
  return {
    ...d,
    message: storable(d.message),
    name: storable(d.name),
    stack: storable(d.stack),
    subject: storable(d.subject),
    subjectId: storable(d.subjectId),
    metadata: Object.fromEntries(
      Object.entries(d.metadata).map(([k, v]) => [storable(k), storable(v)]),
    ),
  };
}

function storable(s: string): string {
  return s.replaceAll("\0", "\uFFFD").toWellFormed();
}

function rawErrorDetail(e: unknown): ErrorDetail {
  // The step's own error, named as it was, with the step in the message.
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
    });
  }
  if (e instanceof Error) {
    return create(ErrorDetailSchema, {
      code: ErrorCode.APPLICATION,
      message: String(e.message),
      name: String(e.name),
      stack: typeof e.stack === "string" ? e.stack : "",
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
