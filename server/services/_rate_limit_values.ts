/**
 * Checks of rate-limit values, shared by RateLimitService (named step limits) and the run rate
 * limits of a registration: a limit of at least one token, a period of at least 1 ms, and
 * tokens at least 1 µs apart (the database's time resolution).
 */
import type { Duration } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../errors.ts";
import { durationMs } from "./_time.ts";

/** The longest period a rate limit may have. */
export const maxPeriodMs = 30 * 86_400_000;
/** The most tokens a rate limit may give per period. */
export const maxLimit = 1_000_000_000;

/** A checked `{ limit, period }`; `field` prefixes the fields named in errors (e.g. "rate_limit."). */
export function rateLimitValues(
  op: string,
  limit: number,
  period: Duration | undefined,
  field = "",
): { limit: number; periodMs: number } {
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw new InvalidArgumentError(
      `${field}limit`,
      `Cannot ${op}: "${field}limit" is ${limit}; it must be a whole number from 1 to ${maxLimit}`,
    );
  }
  const periodMs = durationMs(op, `${field}period`, period);
  if (periodMs === undefined) {
    throw new InvalidArgumentError(
      `${field}period`,
      `Cannot ${op}: "${field}period" is required (e.g. 1s, 1m)`,
    );
  }
  if (periodMs < 1 || periodMs > maxPeriodMs) {
    throw new InvalidArgumentError(
      `${field}period`,
      `Cannot ${op}: "${field}period" is ${periodMs} ms; it must be from 1 ms to 30 days`,
    );
  }
  if (periodMs / limit < 0.001) {
    throw new InvalidArgumentError(
      `${field}limit`,
      `Cannot ${op}: "${field}limit" ${limit} per ${periodMs} ms is more than one token per microsecond`,
    );
  }
  return { limit, periodMs };
}
