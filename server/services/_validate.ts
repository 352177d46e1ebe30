/** Request validation shared by the services: each failure names the field and the value. */
import { create } from "@bufbuild/protobuf";
import {
  ErrorCode,
  type ErrorDetail,
  ErrorDetailSchema,
  type PageInfo,
  PageInfoSchema,
  type Payload,
} from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { durationMs } from "./_time.ts";
import { jsonProblem } from "./_json.ts";

/** The largest payload `data` accepted, in bytes. */
export const maxPayloadBytes = 4 * 1024 * 1024;
const maxNameLength = 256;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// deno-lint-ignore no-control-regex
const controlChars = /[\u0000-\u001f\u007f]/;

/** Shows a value in an error message, shortened. */
export function show(value: string): string {
  return JSON.stringify(value.length > 64 ? value.slice(0, 61) + "..." : value);
}

/** The namespace of a request: empty means "default". */
export function namespace(op: string, value: string): string {
  if (value === "") return "default";
  if (value.length > 128 || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    throw new InvalidArgumentError(
      "namespace",
      `Cannot ${op}: "namespace" ${show(value)} must be 1-128 letters, digits, ".", "_" or "-"`,
    );
  }
  return value;
}

/** A required name such as workflow_type: 1-256 characters, no control characters. */
export function name(op: string, field: string, value: string, required = true): string {
  if (value === "") {
    if (!required) return value;
    throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" must not be empty`);
  }
  if (value.length > maxNameLength) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" is ${value.length} characters long; the limit is ${maxNameLength}`,
    );
  }
  if (controlChars.test(value) || value.includes("\uFFFD")) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" ${show(value)} contains control or invalid characters`,
    );
  }
  return value;
}

/** A required run id (a UUID). */
export function runId(op: string, value: string, field = "run_id"): string {
  if (value === "") {
    throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" must not be empty`);
  }
  if (!uuidPattern.test(value)) {
    throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" ${show(value)} is not a UUID`);
  }
  return value.toLowerCase();
}

/** A payload's data and metadata, checked for size and text. Absent becomes empty JSON-less data. */
export function payload(
  op: string,
  field: string,
  p: Payload | undefined,
): { data: Uint8Array; metadata: Record<string, string> } {
  if (!p) return { data: new Uint8Array(), metadata: {} };
  if (p.data.byteLength > maxPayloadBytes) {
    throw new InvalidArgumentError(
      `${field}.data`,
      `Cannot ${op}: "${field}.data" is ${p.data.byteLength} bytes; the limit is ${maxPayloadBytes}`,
    );
  }
  const entries = Object.entries(p.metadata);
  if (entries.length > 64) {
    throw new InvalidArgumentError(
      `${field}.metadata`,
      `Cannot ${op}: "${field}.metadata" has ${entries.length} entries; the limit is 64`,
    );
  }
  for (const [k, v] of entries) {
    if (
      k === "" || k.length > 256 || v.length > 4096 || k.includes("\uFFFD") || v.includes("\uFFFD")
    ) {
      throw new InvalidArgumentError(
        `${field}.metadata`,
        `Cannot ${op}: "${field}.metadata" entry ${
          show(k)
        } must have a 1-256 character key and a value of at most 4096 characters, in valid UTF-8`,
      );
    }
  }
  const problem = p.metadata.encoding === "json" ? jsonProblem(p.data) : undefined;
  if (problem) {
    throw new InvalidArgumentError(
      `${field}.data`,
      `Cannot ${op}: "${field}.data" is not valid JSON although "${field}.metadata" says ` +
        `encoding "json" (${problem.slice(0, 200)})`,
    );
  }
  return { data: p.data, metadata: p.metadata };
}

/** A page size: 0 is the default, negative or too large is an error. */
export function pageSize(op: string, value: number, fallback = 50, max = 1000): number {
  if (value === 0) return fallback;
  if (value < 0 || value > max) {
    throw new InvalidArgumentError(
      "page.page_size",
      `Cannot ${op}: "page.page_size" ${value} must be from 0 to ${max}`,
    );
  }
  return value;
}

/** Makes an opaque page token from the cursor key of the last row of a page. */
export function cursorToken(key: string): string {
  const bytes = new TextEncoder().encode(`c${key}`);
  return btoa(String.fromCharCode(...bytes)).replace(/=+$/, "").replace(/\+/g, "-")
    .replace(/\//g, "_");
}

/** The cursor key of a page token made by {@linkcode cursorToken}; null for no token. */
export function cursorKey(op: string, token: string, pattern = /^[\s\S]{1,512}$/): string | null {
  if (token === "") return null;
  const key = decodeToken(token);
  if (
    key === undefined || !key.startsWith("c") || !pattern.test(key.slice(1)) ||
    controlChars.test(key)
  ) {
    throw badToken(op, token);
  }
  return key.slice(1);
}

const maxInt64 = (1n << 63n) - 1n;

/** A numeric cursor (a row sequence number or an offset, at most `max`); null for no token. */
export function numericCursor(op: string, token: string, max = maxInt64): bigint | null {
  const key = cursorKey(op, token, /^[0-9]{1,19}$/);
  if (key === null) return null;
  const n = BigInt(key);
  if (n > max) throw badToken(op, token);
  return n;
}

function badToken(op: string, token: string): InvalidArgumentError {
  return new InvalidArgumentError(
    "page.page_token",
    `Cannot ${op}: "page.page_token" ${show(token)} is not a token this server issued`,
  );
}

/** At most `max` UTF-16 units of `s`, never cutting a surrogate pair in two. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** A counter reported by a worker: 0 to `max`, named in the error otherwise. */
export function count(op: string, field: string, value: number | bigint, max: number): number {
  if (value < 0 || value > max) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" ${value} must be from 0 to ${max}`,
    );
  }
  return Number(value);
}

/** The items of a batch request: `min` to `max` of them, named in the error otherwise. */
export function batchSize(op: string, field: string, length: number, max: number, min = 0): void {
  if (length < min || length > max) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" holds ${length} items; ${
        min > 0 ? `${min} to ${max}` : `at most ${max}`
      } are allowed`,
    );
  }
}

/** Worker labels: at most 64, keys 1-256 and values at most 1024 characters. */
export function labels(op: string, value: Record<string, string>): Record<string, string> {
  const entries = Object.entries(value);
  if (entries.length > 64) {
    throw new InvalidArgumentError(
      "labels",
      `Cannot ${op}: "labels" has ${entries.length} entries; the limit is 64`,
    );
  }
  for (const [k, v] of entries) {
    if (k === "" || k.length > 256 || v.length > 1024) {
      throw new InvalidArgumentError(
        "labels",
        `Cannot ${op}: "labels" entry ${
          show(k)
        } must have a 1-256 character key and a value of at most 1024 characters`,
      );
    }
  }
  return value;
}

/**
 * One page of `rows` (fetched with `size + 1` rows to tell whether more follow)
 * and its PageInfo, whose token continues after the last row's cursor key.
 */
export function pageOf<R>(
  rows: R[],
  size: number,
  keyOf: (last: R) => string,
  totalCount?: bigint,
): { items: R[]; page: PageInfo } {
  const hasMore = rows.length > size;
  const items = rows.slice(0, size);
  return {
    items,
    page: create(PageInfoSchema, {
      hasMore,
      nextPageToken: hasMore ? cursorToken(keyOf(items[items.length - 1])) : "",
      totalCount,
    }),
  };
}

function decodeToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    const bin = atob(token.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(bin, (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
}

/** How many causes of an error are stored (`ErrorDetail.cause`, nested); deeper are dropped. */
const maxErrorCauses = 3;

/**
 * A user's error (a failed step or run) with its sizes bounded, its causes too (smaller); a bad
 * retry_after is named. The SDK bounds an error the same way before sending it
 * (sdk/_errors_wire.ts), so the error it builds on the first execution is the one a replay reads
 * back.
 */
export function errorDetail(op: string, e: ErrorDetail): ErrorDetail {
  durationMs(op, "error.retry_after", e.retryAfter);
  return boundedError(e, 0);
}

function boundedError(e: ErrorDetail, depth: number): ErrorDetail {
  const cause = depth > 0;
  return create(ErrorDetailSchema, {
    code: e.code === ErrorCode.UNSPECIFIED ? ErrorCode.APPLICATION : e.code,
    message: clip(e.message, cause ? 4096 : 8192),
    nonRetryable: e.nonRetryable,
    retryAfter: cause ? undefined : e.retryAfter,
    subject: clip(e.subject, 256),
    subjectId: clip(e.subjectId, 256),
    metadata: Object.fromEntries(
      Object.entries(e.metadata).slice(0, cause ? 8 : 32)
        .map(([k, val]) => [clip(k, 256), clip(val, cause ? 1024 : 4096)]),
    ),
    name: clip(e.name, 256),
    stack: clip(e.stack, cause ? 8192 : 16384),
    cause: e.cause && depth < maxErrorCauses ? boundedError(e.cause, depth + 1) : undefined,
  });
}
