/**
 * Typed errors thrown by the store and services, and the single mapping from
 * them to the wire (`ConnectError` carrying a `kagzi.v1.ErrorDetail`).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { ErrorCode, type ErrorDetail, ErrorDetailSchema } from "@kagzi/proto";
import { faultRetryAfterMs, isConnectionFault } from "./store/faults.ts";

/** Base of every error the server reports on purpose. */
export class KagziServerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly subject = "",
    readonly subjectId = "",
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A request field is missing or malformed; `subject` is the field's name. */
export class InvalidArgumentError extends KagziServerError {
  constructor(readonly field: string, message: string) {
    super(ErrorCode.INVALID_ARGUMENT, message, field);
  }
}

/** The named thing does not exist in the namespace. */
export class NotFoundError extends KagziServerError {
  constructor(subject: string, id: string, message?: string) {
    super(ErrorCode.NOT_FOUND, message ?? `${subject} "${id}" was not found`, subject, id);
  }
}

/** The request conflicts with what is stored. */
export class ConflictError extends KagziServerError {
  constructor(subject: string, id: string, message: string) {
    super(ErrorCode.CONFLICT, message, subject, id);
  }
}

/** The stored state does not allow the operation. */
export class PreconditionError extends KagziServerError {
  constructor(subject: string, id: string, message: string) {
    super(ErrorCode.PRECONDITION_FAILED, message, subject, id);
  }
}

/** The call carries no API key, or one the server does not accept. */
export class UnauthorizedError extends KagziServerError {
  constructor(message: string) {
    super(ErrorCode.UNAUTHORIZED, message, "authorization");
  }
}

/** A limit was reached (a body over the size limit, too many pending signals …). */
export class ResourceExhaustedError extends KagziServerError {
  constructor(subject: string, message: string, subjectId = "") {
    super(ErrorCode.RESOURCE_EXHAUSTED, message, subject, subjectId);
  }
}

/** The caller's API key does not cover the namespace, or the call needs an admin key. */
export class PermissionDeniedError extends KagziServerError {
  constructor(subject: string, subjectId: string, message: string) {
    super(ErrorCode.PERMISSION_DENIED, message, subject, subjectId);
  }
}

/** The worker's lease on a run was taken over or ended: its writes are refused. */
export class LeaseLostError extends PreconditionError {
  constructor(runId: string, fence: bigint | number) {
    super(
      "run",
      runId,
      `Lease lost: run "${runId}" is no longer held with fence ${fence} (taken over, finished or cancelled)`,
    );
  }
}

const connectCodes: Record<ErrorCode, Code> = {
  [ErrorCode.UNSPECIFIED]: Code.Unknown,
  [ErrorCode.NOT_FOUND]: Code.NotFound,
  [ErrorCode.INVALID_ARGUMENT]: Code.InvalidArgument,
  [ErrorCode.PRECONDITION_FAILED]: Code.FailedPrecondition,
  [ErrorCode.CONFLICT]: Code.AlreadyExists,
  [ErrorCode.UNAUTHORIZED]: Code.Unauthenticated,
  [ErrorCode.UNAVAILABLE]: Code.Unavailable,
  [ErrorCode.INTERNAL]: Code.Internal,
  [ErrorCode.TIMEOUT]: Code.DeadlineExceeded,
  [ErrorCode.APPLICATION]: Code.Unknown,
  [ErrorCode.RESOURCE_EXHAUSTED]: Code.ResourceExhausted,
  [ErrorCode.PERMISSION_DENIED]: Code.PermissionDenied,
  [ErrorCode.CANCELLED]: Code.Canceled,
};

/** Postgres refused text: U+0000 (22P05 in json, 22021 in text) or invalid Unicode escapes. */
function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "22P05" || code === "22021" ||
    (code === "22P02" && /Unicode|surrogate/i.test(
      String((err as Error).message) +
        String((err as { detail?: unknown }).detail ?? ""),
    ));
}

/** Maps anything thrown by a handler to the `ErrorDetail` its caller receives. */
export function toErrorDetail(
  err: unknown,
  log: (msg: string, err: unknown) => void,
): ErrorDetail {
  if (err instanceof KagziServerError) {
    return create(ErrorDetailSchema, {
      code: err.code,
      message: err.message,
      subject: err.subject,
      subjectId: err.subjectId,
      name: err.name,
    });
  }
  // Two transactions locked the same runs in opposite orders (e.g. a parent cancelled while
  // its child ends): Postgres aborted one; the call can simply be made again.
  const pgCode = (err as { code?: unknown })?.code;
  if (pgCode === "40P01" || pgCode === "40001") {
    log("transaction conflict", err);
    return create(ErrorDetailSchema, {
      code: ErrorCode.UNAVAILABLE,
      message: "A concurrent change to the same runs conflicted with this call; try again",
      subject: "database",
      retryAfter: durationFromMs(50),
    });
  }
  if (isUnstorableText(err)) {
    // Requests are checked for such text before they reach the database; this is the
    // last resort for a path that was missed: the caller's input, not a server fault.
    log("unstorable text reached the database", err);
    return create(ErrorDetailSchema, {
      code: ErrorCode.INVALID_ARGUMENT,
      message: "The request holds text the database cannot store (a NUL character or " +
        "invalid Unicode)",
      subject: "body",
    });
  }
  if (isConnectionFault(err)) {
    log("database unavailable", err);
    return create(ErrorDetailSchema, {
      code: ErrorCode.UNAVAILABLE,
      message: `The database is unavailable (${faultName(err)}); try again in ` +
        `${faultRetryAfterMs} ms`,
      subject: "database",
      retryAfter: durationFromMs(faultRetryAfterMs),
    });
  }
  log("internal error", err);
  return create(ErrorDetailSchema, { code: ErrorCode.INTERNAL, message: "Internal server error" });
}

/** Maps anything thrown by a handler to the ConnectError sent on the wire. */
export function toConnectError(
  err: unknown,
  log: (msg: string, err: unknown) => void,
): ConnectError {
  if (err instanceof ConnectError) return err;
  const detail = toErrorDetail(err, log);
  // The delay is also a header (trailer in gRPC) that needs no Kagzi proto to read.
  const retryAfter = detail.retryAfter &&
    Number(detail.retryAfter.seconds) * 1000 + Math.round(detail.retryAfter.nanos / 1e6);
  const headers = retryAfter ? new Headers({ [retryAfterHeader]: String(retryAfter) }) : undefined;
  return new ConnectError(detail.message, connectCodes[detail.code], headers, [
    { desc: ErrorDetailSchema, value: detail },
  ]);
}

/** Response metadata with the milliseconds to wait before retrying an UNAVAILABLE call. */
export const retryAfterHeader = "retry-after-ms";

/** A short name of a database fault for messages: its code, e.g. "57P01" or "ECONNREFUSED". */
function faultName(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && code ? code : (err as Error)?.name ?? "connection lost";
}
