/**
 * Run tags: searchable attributes set at start and used as a ListWorkflows filter. The limits
 * keep a tag map small enough to index and to show.
 */
import { InvalidArgumentError } from "../errors.ts";
import * as v from "./_validate.ts";

/** The most tags a run carries. */
export const maxTags = 32;
const maxKeyLength = 64;
const maxValueLength = 256;
// deno-lint-ignore no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/;

/** A checked tag map (field `field`, e.g. "tags"); null when empty. */
export function tags(
  op: string,
  field: string,
  map: Record<string, string>,
): Record<string, string> | null {
  const entries = Object.entries(map);
  if (entries.length === 0) return null;
  if (entries.length > maxTags) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" has ${entries.length} tags; the limit is ${maxTags}`,
    );
  }
  for (const [key, value] of entries) {
    if (key === "" || key.length > maxKeyLength) {
      throw new InvalidArgumentError(
        field,
        `Cannot ${op}: "${field}" key ${v.show(key)} must be 1-${maxKeyLength} characters`,
      );
    }
    if (value.length > maxValueLength) {
      throw new InvalidArgumentError(
        field,
        `Cannot ${op}: "${field}" value of ${
          v.show(key)
        } is ${value.length} characters long; the limit is ${maxValueLength}`,
      );
    }
    if (controlChars.test(key + value) || (key + value).includes("\uFFFD")) {
      throw new InvalidArgumentError(
        field,
        `Cannot ${op}: "${field}" entry ${v.show(key)} contains control or invalid characters`,
      );
    }
  }
  return Object.fromEntries(entries);
}
