/**
 * Named rate limits from the client: `client.setRateLimit("openai", { limit: 60, period: "1m" })`
 * and the steps that take them, `ctx.step("summarize").rateLimit("openai").run(fn)`.
 */
import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import type { NamedRateLimit as RateLimitProto } from "@kagzi/proto";
import { type Duration, parseDuration } from "../duration.ts";
import { KagziError } from "../errors.ts";
import { rpc, type Services } from "./_services.ts";

/** What a named rate limit allows: at most `limit` steps begun in any window of `period`. */
export interface NamedRateLimitOptions {
  /** Steps begun per period: a whole number, at least 1. */
  limit: number;
  /** The window, e.g. `"1s"`, `"1m"` or a number of milliseconds; at least 1 ms. */
  period: Duration;
}

/**
 * The arguments of `client.setRateLimit(name, …)`: at most `limit` steps begin in any window of
 * `period`, tokens spaced `period / limit` apart (no bursts); optionally the namespace.
 */
export type RateLimitArgs = NamedRateLimitOptions & {
  /** The namespace of the limit. @default the client's namespace */
  namespace?: string;
};

/** A named rate limit as stored. */
export interface NamedRateLimit {
  /** The limit's name within its namespace. */
  name: string;
  /** Its namespace. */
  namespace: string;
  /** Steps begun per period. */
  limit: number;
  /** The period in milliseconds. */
  periodMs: number;
  /** When it was first set. */
  createdAt: Date | undefined;
  /** When it last changed. */
  updatedAt: Date | undefined;
}

function fromProto(r: RateLimitProto | undefined): NamedRateLimit {
  if (!r) throw new KagziError("INTERNAL", "The server answered without the rate limit");
  return {
    name: r.name,
    namespace: r.namespace,
    limit: r.limit,
    periodMs: r.period ? Number(r.period.seconds) * 1000 + Math.floor(r.period.nanos / 1e6) : 0,
    createdAt: r.createdAt && timestampDate(r.createdAt),
    updatedAt: r.updatedAt && timestampDate(r.updatedAt),
  };
}

/** Creates or replaces a named limit. */
async function setRateLimit(
  services: Services,
  namespace: string,
  name: string,
  options: NamedRateLimitOptions,
): Promise<NamedRateLimit> {
  if (typeof options !== "object" || options === null) {
    throw new KagziError("INVALID_ARGUMENT", `setRateLimit("${name}"): pass { limit, period }`, {
      subject: "limit",
      nonRetryable: true,
    });
  }
  const { limit } = options;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000_000) {
    throw new KagziError(
      "INVALID_ARGUMENT",
      `setRateLimit("${name}"): "limit" is ${limit}; it must be a whole number from 1 to 1000000000`,
      { subject: "limit", nonRetryable: true },
    );
  }
  const periodMs = parseDuration(options.period, "period");
  const res = await rpc(() =>
    services.rateLimits.setRateLimit({
      namespace,
      name,
      limit,
      period: durationFromMs(periodMs),
    })
  );
  return fromProto(res.rateLimit);
}

/** Reads a named limit (NOT_FOUND when it is not defined). */
async function getRateLimit(
  services: Services,
  namespace: string,
  name: string,
): Promise<NamedRateLimit> {
  const res = await rpc(() => services.rateLimits.getRateLimit({ namespace, name }));
  return fromProto(res.rateLimit);
}

/** Every named limit of a namespace, by name. */
async function listRateLimits(
  services: Services,
  namespace: string,
): Promise<NamedRateLimit[]> {
  const res = await rpc(() => services.rateLimits.listRateLimits({ namespace }));
  return res.rateLimits.map(fromProto);
}

/** Deletes a named limit (NOT_FOUND when it is not defined). */
async function deleteRateLimit(
  services: Services,
  namespace: string,
  name: string,
): Promise<void> {
  await rpc(() => services.rateLimits.deleteRateLimit({ namespace, name }));
}

/** The calls of named rate limits, for the client. */
export const rl = { setRateLimit, getRateLimit, listRateLimits, deleteRateLimit };
