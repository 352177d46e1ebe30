/** Durable retry decisions for failed steps. */
import { BackoffKind, type ErrorDetail, type RetryPolicy } from "@kagzi/proto";

/** A policy with every field decided. */
export interface ResolvedPolicy {
  /** Total attempts including the first; 0 is unlimited. */
  maximumAttempts: number;
  initialMs: number;
  coefficient: number;
  maximumMs: number;
  nonRetryable: string[];
  backoff: "exponential" | "linear";
}

/** The server's policy when neither step, run nor worker sets one. */
export const serverDefaultPolicy: ResolvedPolicy = {
  maximumAttempts: 3,
  initialMs: 1_000,
  coefficient: 2,
  maximumMs: 60_000,
  nonRetryable: [],
  backoff: "exponential",
};

/** How far a delay may stray from the computed backoff (±20%). */
export const jitterRatio = 0.2;

const ms = (d: { seconds: bigint; nanos: number } | undefined) =>
  d === undefined ? undefined : Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);

/** Merges policies field by field: the first that sets a field wins (step, run, worker). */
export function resolvePolicy(...policies: (RetryPolicy | undefined)[]): ResolvedPolicy {
  const out = { ...serverDefaultPolicy };
  for (const p of [...policies].reverse()) {
    if (!p) continue;
    if (p.maximumAttempts !== undefined) out.maximumAttempts = p.maximumAttempts;
    out.initialMs = ms(p.initialInterval) ?? out.initialMs;
    out.maximumMs = ms(p.maximumInterval) ?? out.maximumMs;
    if (p.backoffCoefficient !== undefined) out.coefficient = p.backoffCoefficient;
    if (p.nonRetryableErrors.length) out.nonRetryable = p.nonRetryableErrors;
    if (p.backoff === BackoffKind.LINEAR) out.backoff = "linear";
    else if (p.backoff === BackoffKind.EXPONENTIAL) out.backoff = "exponential";
  }
  return out;
}

/**
 * When attempt `attempt` (from 1) failed with `error`: the delay before the next
 * attempt in ms, or undefined when the step has failed for good.
 */
export function retryDelay(
  policy: ResolvedPolicy,
  attempt: number,
  error: ErrorDetail,
  random: () => number = Math.random,
): number | undefined {
  if (error.nonRetryable) return undefined;
  if (error.name && policy.nonRetryable.includes(error.name)) return undefined;
  if (policy.maximumAttempts > 0 && attempt >= policy.maximumAttempts) return undefined;
  const asked = ms(error.retryAfter);
  if (asked !== undefined && asked > 0) return asked;
  const base = policy.backoff === "linear"
    ? policy.initialMs
    : policy.initialMs * Math.pow(policy.coefficient, attempt - 1);
  const jittered = base * (1 + (random() * 2 - 1) * jitterRatio);
  return Math.max(0, Math.round(Math.min(jittered, policy.maximumMs)));
}
