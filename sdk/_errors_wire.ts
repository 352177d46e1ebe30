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

/** Anything thrown by user code, as the ErrorDetail stored for the step or run. */
export function toErrorDetail(e: unknown): ErrorDetail {
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
