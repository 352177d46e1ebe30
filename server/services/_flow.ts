/**
 * Flow control as the server stores it (`FlowConfig`, the JSON of kagzi_flow_controls.config):
 * checked from the wire at Register (the SDK checks it too), turned back into the wire for
 * GetFlowControl, and the key paths evaluated against a run's input at start.
 */
import { create } from "@bufbuild/protobuf";
import { type Duration, durationFromMs } from "@bufbuild/protobuf/wkt";
import { type FlowControl, FlowControlSchema } from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { durationMs } from "./_time.ts";

/** Stored flow control of one (type, version). */
export interface FlowConfig {
  concurrency: { key: string; limit: number }[];
  rateLimit?: { key: string; limit: number; periodMs: number };
  debounce?: { key: string; periodMs: number; maxWaitMs?: number };
  priority?: number;
}

const pathPattern = /^input(?:\.[^.[\]\s]+|\[\d+\])*$/;
const maxLimit = 1_000_000_000;
/** Longest key value (characters) a limit accepts. */
export const maxKeyLength = 256;

function path(op: string, field: string, key: string): string {
  if (key === "") return "";
  if (key.length > 200 || !pathPattern.test(key)) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" ${JSON.stringify(key.slice(0, 200))} is not a key path; use ` +
        `"input.customerId", "input.a.b" or "input.items[0].id"`,
    );
  }
  return key;
}

function limit(op: string, field: string, n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > maxLimit) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" must be a whole number from 1 to ${maxLimit}, not ${n}`,
    );
  }
  return n;
}

function period(op: string, field: string, d: Duration | undefined): number {
  const ms = durationMs(op, field, d);
  if (!ms) throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" must be more than zero`);
  return ms;
}

/** Checks a registration's flow control; `prefix` names its place in the request. */
export function flowConfigOf(op: string, prefix: string, fc: FlowControl): FlowConfig {
  const seen = new Set<string>();
  const config: FlowConfig = {
    concurrency: fc.concurrency.map((c, i) => {
      const key = path(op, `${prefix}.concurrency[${i}].key`, c.key);
      if (seen.has(key)) {
        throw new InvalidArgumentError(
          `${prefix}.concurrency[${i}].key`,
          `Cannot ${op}: "${prefix}.concurrency[${i}].key" repeats ${JSON.stringify(key)}`,
        );
      }
      seen.add(key);
      return { key, limit: limit(op, `${prefix}.concurrency[${i}].limit`, c.limit) };
    }),
  };
  if (fc.rateLimit) {
    const f = `${prefix}.rate_limit`;
    config.rateLimit = {
      key: path(op, `${f}.key`, fc.rateLimit.key),
      limit: limit(op, `${f}.limit`, fc.rateLimit.limit),
      periodMs: period(op, `${f}.period`, fc.rateLimit.period),
    };
  }
  if (fc.debounce) {
    const f = `${prefix}.debounce`;
    const periodMs = period(op, `${f}.period`, fc.debounce.period);
    const maxWaitMs = fc.debounce.maxWait
      ? period(op, `${f}.max_wait`, fc.debounce.maxWait)
      : undefined;
    if (maxWaitMs !== undefined && maxWaitMs < periodMs) {
      throw new InvalidArgumentError(
        `${f}.max_wait`,
        `Cannot ${op}: "${f}.max_wait" must not be shorter than "${f}.period"`,
      );
    }
    config.debounce = { key: path(op, `${f}.key`, fc.debounce.key), periodMs, maxWaitMs };
  }
  if (fc.priority !== undefined) config.priority = priority(op, `${prefix}.priority`, fc.priority);
  return config;
}

/** Checks a priority: a whole number from -1000000 to 1000000. */
export function priority(op: string, field: string, n: number): number {
  if (!Number.isInteger(n) || Math.abs(n) > 1_000_000) {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: "${field}" must be a whole number from -1000000 to 1000000, not ${n}`,
    );
  }
  return n;
}

/** The wire form of a stored flow control. */
export function flowConfigToProto(c: FlowConfig): FlowControl {
  return create(FlowControlSchema, {
    concurrency: c.concurrency,
    rateLimit: c.rateLimit && {
      key: c.rateLimit.key,
      limit: c.rateLimit.limit,
      period: durationFromMs(c.rateLimit.periodMs),
    },
    debounce: c.debounce && {
      key: c.debounce.key,
      period: durationFromMs(c.debounce.periodMs),
      maxWait: c.debounce.maxWaitMs === undefined
        ? undefined
        : durationFromMs(c.debounce.maxWaitMs),
    },
    priority: c.priority,
  });
}
