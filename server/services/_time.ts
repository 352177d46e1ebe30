/** Duration and timestamp checks for requests. */
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../errors.ts";

/** A Duration in milliseconds; negative or absurd values are errors naming the field. */
export function durationMs(op: string, field: string, d: Duration | undefined): number | undefined {
  if (!d) return undefined;
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  if (
    !Number.isFinite(ms) || ms < 0 || d.nanos < 0 || d.nanos > 999_999_999 ||
    ms > 10 * 365 * 86_400_000
  ) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" must be a non-negative duration of at most 10 years`,
    );
  }
  return ms;
}

/** A Timestamp as a Date; out-of-range values are errors naming the field. */
export function dateOf(op: string, field: string, t: Timestamp | undefined): Date | undefined {
  if (!t) return undefined;
  const d = timestampDate(t);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1970 || d.getUTCFullYear() > 9999) {
    throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" is not a valid time`);
  }
  return d;
}
