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
  const d = rawErrorDetail(e);
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
      message: e.message,
      name: e.name,
      stack: e.stack ?? "",
    });
  }
  return create(ErrorDetailSchema, {
    code: ErrorCode.APPLICATION,
    message: typeof e === "string" ? e : JSON.stringify(e) ?? String(e),
    name: "Error",
  });
}
