/**
 * Errors of the Kagzi SDK: one type, {@linkcode KagziError}, with subclasses
 * for the outcomes a program handles on purpose.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, type ErrorDetail, ErrorDetailSchema } from "@kagzi/proto";
import { readDuration } from "./_duration_grammar.ts";

/** What went wrong, in the server's words. */
export type KagziErrorCode =
  | "NOT_FOUND"
  | "INVALID_ARGUMENT"
  | "PRECONDITION_FAILED"
  | "CONFLICT"
  | "UNAUTHORIZED"
  | "UNAVAILABLE"
  | "INTERNAL"
  | "TIMEOUT"
  | "APPLICATION"
  | "RESOURCE_EXHAUSTED"
  | "PERMISSION_DENIED"
  | "CANCELLED";

/** Fields of a {@linkcode KagziError} besides its message. */
export interface KagziErrorOptions {
  /** True when trying again cannot help. @default false */
  nonRetryable?: boolean;
  /** Milliseconds to wait before trying again, when the error asks for it. */
  retryAfter?: number;
  /** What the error is about, e.g. the request field `"workflow_type"`. @default "" */
  subject?: string;
  /** The id of the subject, when it has one. @default "" */
  subjectId?: string;
  /** Extra key/value details. @default {} */
  metadata?: Record<string, string>;
  /** The underlying error, kept as `Error#cause`. */
  cause?: unknown;
}

const codeNames: Record<ErrorCode, KagziErrorCode> = {
  [ErrorCode.UNSPECIFIED]: "INTERNAL",
  [ErrorCode.NOT_FOUND]: "NOT_FOUND",
  [ErrorCode.INVALID_ARGUMENT]: "INVALID_ARGUMENT",
  [ErrorCode.PRECONDITION_FAILED]: "PRECONDITION_FAILED",
  [ErrorCode.CONFLICT]: "CONFLICT",
  [ErrorCode.UNAUTHORIZED]: "UNAUTHORIZED",
  [ErrorCode.UNAVAILABLE]: "UNAVAILABLE",
  [ErrorCode.INTERNAL]: "INTERNAL",
  [ErrorCode.TIMEOUT]: "TIMEOUT",
  [ErrorCode.APPLICATION]: "APPLICATION",
  [ErrorCode.RESOURCE_EXHAUSTED]: "RESOURCE_EXHAUSTED",
  [ErrorCode.PERMISSION_DENIED]: "PERMISSION_DENIED",
  [ErrorCode.CANCELLED]: "CANCELLED",
};

const connectCodes: Partial<Record<Code, KagziErrorCode>> = {
  [Code.NotFound]: "NOT_FOUND",
  [Code.InvalidArgument]: "INVALID_ARGUMENT",
  [Code.FailedPrecondition]: "PRECONDITION_FAILED",
  [Code.AlreadyExists]: "CONFLICT",
  [Code.Aborted]: "CONFLICT",
  [Code.Unauthenticated]: "UNAUTHORIZED",
  [Code.PermissionDenied]: "PERMISSION_DENIED",
  [Code.ResourceExhausted]: "RESOURCE_EXHAUSTED",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DeadlineExceeded]: "TIMEOUT",
  [Code.Canceled]: "UNAVAILABLE",
};

/** Every error the SDK raises. */
export class KagziError extends Error {
  /** The kind of failure. */
  readonly code: KagziErrorCode;
  /** True when trying again cannot help. */
  readonly nonRetryable: boolean;
  /** Milliseconds to wait before trying again, when known. */
  readonly retryAfter: number | undefined;
  /** What the error is about (a field name, "run", "schedule" …). */
  readonly subject: string;
  /** The id of the subject, when it has one. */
  readonly subjectId: string;
  /** Extra key/value details. */
  readonly metadata: Record<string, string>;

  /** Creates an error with a code, a message and optional details. */
  constructor(code: KagziErrorCode, message: string, options: KagziErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KagziError";
    this.code = code;
    this.nonRetryable = options.nonRetryable ?? false;
    this.retryAfter = options.retryAfter;
    this.subject = options.subject ?? "";
    this.subjectId = options.subjectId ?? "";
    this.metadata = options.metadata ?? {};
  }

  /** Turns anything thrown (a ConnectError, a network failure …) into a KagziError. */
  static from(reason: unknown): KagziError {
    if (reason instanceof KagziError) return reason;
    if (reason instanceof ConnectError) {
      const [detail] = reason.findDetails(ErrorDetailSchema);
      if (detail) return KagziError.fromDetail(detail, reason);
      // A fetch that never reached the server (refused, reset, DNS) is UNAVAILABLE.
      const network = reason.code === Code.Unknown && reason.cause instanceof TypeError;
      const code = network ? "UNAVAILABLE" : (connectCodes[reason.code] ?? "INTERNAL");
      return new KagziError(code, reason.rawMessage || reason.message, { cause: reason });
    }
    if (reason instanceof Error) {
      return new KagziError("INTERNAL", reason.message, { cause: reason });
    }
    return new KagziError("INTERNAL", String(reason));
  }

  /** A KagziError from a wire ErrorDetail. */
  static fromDetail(detail: ErrorDetail, cause?: unknown): KagziError {
    return new KagziError(codeNames[detail.code] ?? "INTERNAL", detail.message, {
      nonRetryable: detail.nonRetryable,
      retryAfter: detail.retryAfter
        ? Number(detail.retryAfter.seconds) * 1000 + Math.floor(detail.retryAfter.nanos / 1e6)
        : undefined,
      subject: detail.subject,
      subjectId: detail.subjectId,
      metadata: { ...detail.metadata, ...(detail.name ? { name: detail.name } : {}) },
      cause,
    });
  }
}

/** The wire form of the failures behind step and workflow errors (read by the worker). */
const details = new WeakMap<KagziError, ErrorDetail>();

/** The stored failure behind a StepFailedError or WorkflowFailedError (not exported from the package). */
export function errorDetailOf(e: KagziError): ErrorDetail | undefined {
  return details.get(e);
}

/** How many causes of a failure are stored (`ErrorDetail.cause`, nested); deeper are dropped. */
export const maxStoredCauses = 3;

/**
 * The error a stored failure stands for, as it was thrown: its `name` (also `metadata.name`),
 * message and `stack` as stored, and its stored cause as `cause`, rebuilt likewise. A failure
 * stored without a stack (one the server made) has only its first line, `name: message`
 * (not exported from the package).
 */
export function failureOf(detail: ErrorDetail, depth = 0): KagziError {
  const cause = detail.cause && depth < maxStoredCauses
    ? failureOf(detail.cause, depth + 1)
    : undefined;
  const e = KagziError.fromDetail(detail, cause);
  if (detail.name) e.name = detail.name;
  e.stack = detail.stack || `${e.name}: ${e.message}`;
  return e;
}

/**
 * A run ended FAILED; `code`, `message` and `metadata.name` describe the stored failure, which
 * is its `cause` (with the failure's own name, stack and cause: see `failureOf`).
 */
export class WorkflowFailedError extends KagziError {
  /** Creates the error of run `runId` from its stored failure. */
  constructor(runId: string, detail: ErrorDetail) {
    const failure = failureOf(detail);
    super(failure.code, `Workflow run ${runId} failed: ${detail.message}`, {
      nonRetryable: true,
      subject: "run",
      subjectId: runId,
      metadata: { ...failure.metadata },
      cause: failure,
    });
    this.name = "WorkflowFailedError";
    details.set(this, detail);
  }
}

/** A run ended CANCELLED. */
export class WorkflowCancelledError extends KagziError {
  /** Why, as given to the cancel ("" when no reason was given). */
  readonly reason: string;
  /** Creates the error of run `runId`, cancelled for `reason` ("" when none was given). */
  constructor(runId: string, reason: string) {
    super("CANCELLED", `Workflow run ${runId} was cancelled${reason ? `: ${reason}` : ""}`, {
      nonRetryable: true,
      subject: "run",
      subjectId: runId,
    });
    this.name = "WorkflowCancelledError";
    this.reason = reason;
  }
}

/**
 * The reason in a cancelled run's stored message: "Cancelled: <reason>" for the run itself,
 * 'Child run <id> was cancelled: <reason>' in its waiting parent's history (older servers
 * stored 'Child run <id> was cancelled: Cancelled: <reason>' there), anything else as it is;
 * "" for none (not exported from the package).
 */
export function cancelReason(message: string): string {
  return message.replace(/^Child run \S+ was cancelled(: |$)/, "").replace(/^Cancelled(: |$)/, "");
}

/** `ctx.waitForSignal` gave up: no signal of that name arrived within its timeout. */
export class SignalTimeoutError extends KagziError {
  /** The signal's name. */
  readonly signalName: string;
  /** Creates the error of the wait for `signalName`. */
  constructor(signalName: string, message = "") {
    super("TIMEOUT", message || `No signal "${signalName}" arrived in time`, {
      nonRetryable: true,
      subject: "signal",
      subjectId: signalName,
    });
    this.name = "SignalTimeoutError";
    this.signalName = signalName;
  }
}

/** A token's `wait()` gave up: nobody completed token `tokenName` before its timeout. */
export class TokenTimeoutError extends KagziError {
  /** The token's name (`ctx.token(name)`). */
  readonly tokenName: string;
  /** Creates the error of the wait for token `tokenName`. */
  constructor(tokenName: string, message = "") {
    super("TIMEOUT", message || `Token "${tokenName}" was not completed in time`, {
      nonRetryable: true,
      subject: "token",
      subjectId: tokenName,
    });
    this.name = "TokenTimeoutError";
    this.tokenName = tokenName;
  }
}

/** A token's `wait()` rejects with it when the token was failed (`client.failToken`). */
export class TokenFailedError extends KagziError {
  /** The token's name (`ctx.token(name)`). */
  readonly tokenName: string;
  /** The reason given to `failToken`. */
  readonly reason: string;
  /** Creates the error of token `tokenName`, failed for `reason`. */
  constructor(tokenName: string, reason: string) {
    super("APPLICATION", `Token "${tokenName}" was failed: ${reason}`, {
      nonRetryable: true,
      subject: "token",
      subjectId: tokenName,
    });
    this.name = "TokenFailedError";
    this.tokenName = tokenName;
    this.reason = reason;
  }
}

/** Throw inside a step to fail it at once, without retries. */
export class NonRetryableError extends KagziError {
  /** Creates an APPLICATION error that is never retried. */
  constructor(message: string, options: Omit<KagziErrorOptions, "nonRetryable"> = {}) {
    super("APPLICATION", message, { ...options, nonRetryable: true });
    this.name = "NonRetryableError";
  }
}

/** Throw inside a step to ask for the next attempt after `retryAfter` (text or ms). */
export class RetryAfterError extends KagziError {
  /** Creates an APPLICATION error retried after `retryAfter` (e.g. "30s", or ms). */
  constructor(
    message: string,
    retryAfter: string | number,
    options: Omit<KagziErrorOptions, "retryAfter"> = {},
  ) {
    super("APPLICATION", message, {
      ...options,
      retryAfter: retryAfterMs(retryAfter),
    });
    this.name = "RetryAfterError";
  }
}

/** `RetryAfterError`'s delay in ms; a bad one throws as `parseDuration` would. */
function retryAfterMs(value: string | number): number {
  const ms = readDuration(value, "retryAfter");
  if (typeof ms === "number") return ms;
  throw new KagziError("INVALID_ARGUMENT", ms.message, {
    subject: "retryAfter",
    nonRetryable: true,
  });
}

/**
 * A step failed for good (retries exhausted or not retryable); the workflow may catch it. Its
 * `cause` is the error the step threw, as stored: its name, message, stack and own cause.
 */
export class StepFailedError extends KagziError {
  /** The step's name. */
  readonly step: string;
  /** Creates the error of step `step` from its last attempt's stored error. */
  constructor(step: string, detail: ErrorDetail) {
    const failure = failureOf(detail);
    super(failure.code, `Step "${step}" failed: ${detail.message}`, {
      nonRetryable: true,
      subject: "step",
      subjectId: step,
      metadata: { ...failure.metadata },
      cause: failure,
    });
    this.name = "StepFailedError";
    this.step = step;
    details.set(this, detail);
  }
}
