/**
 * Flow control declared with a workflow's definition (`defineWorkflow(type, fn, options)` or
 * `.workflow(type, fn, options)`): concurrency limits, a run rate limit, debounce and a default
 * priority. The worker sends it at Register; the server stores it per (namespace, type, version)
 * and enforces it in the claim, so every start obeys it. Checked here and again by the server.
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type FlowControl, FlowControlSchema } from "@kagzi/proto";
import type { Duration } from "./_duration_grammar.ts";
import { readDuration } from "./_duration_grammar.ts";
import { KagziError } from "./errors.ts";

/** A bound on the open runs (from their first claim until they end) per key value, or in all. */
export interface ConcurrencyLimit {
  /** A path into the input, e.g. `"input.customerId"`; omitted: one limit over the whole type. */
  key?: string;
  /** Most open runs per key value: a whole number ≥ 1. */
  limit: number;
}

/** At most `limit` runs begun per `period` per key value (a token bucket, smooth). */
export interface RateLimitOptions {
  /** A path into the input; omitted: one limit over the whole type. */
  key?: string;
  /** Runs begun per period: a whole number ≥ 1. */
  limit: number;
  /** The period, more than zero: `"1m"`, `"1s"`, milliseconds. */
  period: Duration;
}

/** Starts with one key within `period` collapse into one pending run with the last input. */
export interface DebounceOptions {
  /** A path into the input; omitted: every start of the type shares one key. */
  key?: string;
  /** A run begins this long after the last start with its key; more than zero. */
  period: Duration;
  /** It begins at most this long after the first start (≥ period). @default no bound */
  maxWait?: Duration;
}

/** The flow control of a workflow type (all optional). */
export interface FlowControlOptions {
  /** Concurrency limits; each one holds back runs over it (they stay PENDING). */
  concurrency?: ConcurrencyLimit | ConcurrencyLimit[];
  /** Runs begun per period. */
  rateLimit?: RateLimitOptions;
  /** Collapse bursts of starts into one run. */
  debounce?: DebounceOptions;
  /** Default priority of its runs; higher is claimed first. @default 0 */
  priority?: number;
}

const pathPattern = /^input(?:\.[^.[\]\s]+|\[\d+\])*$/;

function bad(type: string, field: string, why: string): KagziError {
  return new KagziError(
    "INVALID_ARGUMENT",
    `Invalid flow control of workflow "${type}": ${field} ${why}`,
    { subject: field, nonRetryable: true },
  );
}

function keyPath(type: string, field: string, key: unknown): string {
  if (key === undefined || key === "") return "";
  if (typeof key !== "string" || key.length > 200 || !pathPattern.test(key)) {
    throw bad(
      type,
      field,
      `${JSON.stringify(key)} is not a key path: use "input.customerId", "input.a.b" or ` +
        `"input.items[0].id"`,
    );
  }
  return key;
}

function limitOf(type: string, field: string, n: unknown): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 1_000_000_000) {
    throw bad(type, field, `${String(n)} must be a whole number from 1 to 1000000000`);
  }
  return n;
}

function periodOf(type: string, field: string, d: unknown): number {
  const ms = readDuration(d as Duration, field);
  if (typeof ms !== "number") throw bad(type, field, ms.message);
  if (ms <= 0) throw bad(type, field, `${JSON.stringify(d)} must be more than zero`);
  return ms;
}

/** Checks flow-control options and builds their wire form; undefined when there is none. */
export function flowControlToProto(
  type: string,
  options: FlowControlOptions | undefined,
): FlowControl | undefined {
  if (options === undefined) return undefined;
  const { concurrency, rateLimit, debounce, priority } = options;
  if (concurrency === undefined && !rateLimit && !debounce && priority === undefined) {
    return undefined;
  }
  const limits = concurrency === undefined ? [] : [concurrency].flat();
  const seen = new Set<string>();
  const fc = create(FlowControlSchema, {
    concurrency: limits.map((c, i) => {
      const key = keyPath(type, `concurrency[${i}].key`, c?.key);
      if (seen.has(key)) throw bad(type, `concurrency[${i}].key`, `repeats ${JSON.stringify(key)}`);
      seen.add(key);
      return { key, limit: limitOf(type, `concurrency[${i}].limit`, c?.limit) };
    }),
  });
  if (rateLimit) {
    fc.rateLimit = {
      $typeName: "kagzi.v1.RateLimit",
      key: keyPath(type, "rateLimit.key", rateLimit.key),
      limit: limitOf(type, "rateLimit.limit", rateLimit.limit),
      period: durationFromMs(periodOf(type, "rateLimit.period", rateLimit.period)),
    };
  }
  if (debounce) {
    const periodMs = periodOf(type, "debounce.period", debounce.period);
    const maxWaitMs = debounce.maxWait === undefined
      ? undefined
      : periodOf(type, "debounce.maxWait", debounce.maxWait);
    if (maxWaitMs !== undefined && maxWaitMs < periodMs) {
      throw bad(type, "debounce.maxWait", "must not be shorter than debounce.period");
    }
    fc.debounce = {
      $typeName: "kagzi.v1.Debounce",
      key: keyPath(type, "debounce.key", debounce.key),
      period: durationFromMs(periodMs),
      maxWait: maxWaitMs === undefined ? undefined : durationFromMs(maxWaitMs),
    };
  }
  if (priority !== undefined) fc.priority = priorityOf(priority, `workflow "${type}" priority`);
  return fc;
}

/** Checks a priority: a whole number from -1000000 to 1000000. */
export function priorityOf(n: unknown, field = "priority"): number {
  if (typeof n !== "number" || !Number.isInteger(n) || Math.abs(n) > 1_000_000) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `Invalid ${field} ${String(n)}: use a whole number from -1000000 to 1000000`,
      { subject: "priority", nonRetryable: true },
    );
  }
  return n;
}
