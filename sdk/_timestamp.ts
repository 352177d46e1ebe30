/**
 * The one checked conversion of a caller's `Date` into a wire Timestamp (a start's deadline, a
 * bulk operation's `since` / `until`, `ctx.sleepUntil`): an invalid Date, or anything that is not
 * a Date, is an INVALID_ARGUMENT naming the field, never an internal error from the conversion.
 */
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { KagziError } from "./errors.ts";

/** How a value that is not a valid Date is named in a message. */
function describe(value: unknown): string {
  if (value instanceof Date) return "an invalid Date";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number") return `the number ${value}`;
  if (value === null || value === undefined) return String(value);
  return `a value of type ${typeof value}`;
}

/**
 * `value` when it is a valid Date; else INVALID_ARGUMENT with subject `field`, its message
 * starting with `what` (what was being done).
 */
export function checkDate(value: unknown, field: string, what: string): Date {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value;
  throw new KagziError(
    "INVALID_ARGUMENT",
    `${what}: "${field}" must be a valid Date, not ${describe(value)}`,
    { subject: field, nonRetryable: true },
  );
}

/** `value` as a wire Timestamp, checked as {@linkcode checkDate} does. */
export function timestampOf(value: unknown, field: string, what: string): Timestamp {
  return timestampFromDate(checkDate(value, field, what));
}
