/** Validation of RetryPolicy messages. */
import type { RetryPolicy } from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { durationMs } from "./_time.ts";

/** Checks a retry policy's fields; returns it unchanged. */
export function checkRetryPolicy(
  op: string,
  field: string,
  p: RetryPolicy | undefined,
): RetryPolicy | undefined {
  if (!p) return undefined;
  if (p.maximumAttempts !== undefined && p.maximumAttempts < 0) {
    throw new InvalidArgumentError(
      `${field}.maximum_attempts`,
      `Cannot ${op}: "${field}.maximum_attempts" ${p.maximumAttempts} must be 0 (unlimited) or more`,
    );
  }
  if (
    p.backoffCoefficient !== undefined &&
    (!Number.isFinite(p.backoffCoefficient) || p.backoffCoefficient < 1 ||
      p.backoffCoefficient > 100)
  ) {
    throw new InvalidArgumentError(
      `${field}.backoff_coefficient`,
      `Cannot ${op}: "${field}.backoff_coefficient" ${p.backoffCoefficient} must be from 1 to 100`,
    );
  }
  durationMs(op, `${field}.initial_interval`, p.initialInterval);
  durationMs(op, `${field}.maximum_interval`, p.maximumInterval);
  if (p.nonRetryableErrors.length > 64) {
    throw new InvalidArgumentError(
      `${field}.non_retryable_errors`,
      `Cannot ${op}: "${field}.non_retryable_errors" has ${p.nonRetryableErrors.length} entries; the limit is 64`,
    );
  }
  for (const n of p.nonRetryableErrors) {
    if (n === "" || n.length > 256) {
      throw new InvalidArgumentError(
        `${field}.non_retryable_errors`,
        `Cannot ${op}: "${field}.non_retryable_errors" entries must be 1-256 characters`,
      );
    }
  }
  return p;
}
