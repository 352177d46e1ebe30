/**
 * Retrying calls the server answered UNAVAILABLE (its database is away, it is restarting, the
 * network dropped): the delay between attempts, honouring the server's `retryAfter`, and the
 * client interceptor that retries the calls a retry cannot make happen twice, inside each
 * call's own timeout.
 */
import type { Interceptor } from "@connectrpc/connect";
import { KagziError } from "./errors.ts";

/** The longest wait between two attempts. */
const maxDelayMs = 1_000;

/**
 * How long to wait before attempt `attempt + 1` (0-based): the server's `retryAfter` when it
 * sent one (100–150 % of it, up to 30 s), else 100 ms doubling up to one second (50–100 % of
 * it); the jitter keeps callers that failed together from coming back together.
 */
export function retryDelay(attempt: number, err?: KagziError): number {
  if (err?.retryAfter !== undefined) {
    return Math.min(err.retryAfter, 30_000) * (1 + Math.random() / 2);
  }
  return Math.min(100 * 2 ** attempt, maxDelayMs) * (0.5 + Math.random() / 2);
}

/** Resolves after `ms`, or rejects with the signal's reason when it is aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `err` as a KagziError, for deciding on a retry. Inside a client interceptor a fetch that never
 * reached the server (refused, reset: a restarting server) is still the fetch's own TypeError —
 * connect wraps it later, and `KagziError.from` then calls it UNAVAILABLE — so it is here too.
 */
function failureOf(err: unknown): KagziError {
  if (err instanceof TypeError) return new KagziError("UNAVAILABLE", err.message, { cause: err });
  return KagziError.from(err);
}

/** Options of {@linkcode retryUnavailable}. */
export interface RetryUnavailableOptions {
  /** No attempt starts after this time (epoch ms); the last error is thrown then. */
  until: number;
  /** Stops retrying (rejecting with its reason) when aborted. */
  signal?: AbortSignal;
}

/**
 * Calls `fn` until it does not fail UNAVAILABLE, waiting {@linkcode retryDelay} in between;
 * rethrows the last error as it was thrown.
 */
export async function retryUnavailable<T>(
  fn: () => Promise<T>,
  options: RetryUnavailableOptions,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const e = failureOf(err);
      if (e.code !== "UNAVAILABLE" || options.signal?.aborted) throw err;
      const delay = retryDelay(attempt, e);
      if (Date.now() + delay >= options.until) throw err;
      await sleep(delay, options.signal);
    }
  }
}

/**
 * Calls a retry cannot duplicate: reads, a signal with its idempotency key, a cancel. (A start
 * is retried by its builder, which knows whether it made the workflow id up.)
 */
const safe: Record<string, (message: Record<string, unknown>) => boolean> = {
  GetWorkflow: () => true,
  ListWorkflows: () => true,
  ListSignals: () => true,
  SignalWorkflow: (m) => m.idempotencyKey !== "",
  // A cancel made twice answers the second time with the cancelled run (alreadyCancelled).
  CancelWorkflow: () => true,
  ListWorkers: () => true,
  GetWorker: () => true,
  GetStep: () => true,
  ListSteps: () => true,
  ListTokens: () => true,
  GetServerInfo: () => true,
  GetWorkflowSchedule: () => true,
  ListWorkflowSchedules: () => true,
  LatestStream: () => true,
  ListStreams: () => true,
  // An emit carries its event id (the SDK makes one up when none is given).
  EmitEvent: (m) => m.eventId !== "",
  ListEvents: () => true,
  ListEventSubscriptions: () => true,
  CreateHook: () => true,
  ListHooks: () => true,
  // Setting a limit to the same values twice stores the same limit.
  SetRateLimit: () => true,
  GetRateLimit: () => true,
  ListRateLimits: () => true,
};

/**
 * Retries the calls in {@linkcode safe} while the server answers UNAVAILABLE, for up to
 * `retryTimeoutMs` and never past the call's own timeout (its signal ends the retries).
 */
export function retryInterceptor(retryTimeoutMs: number): Interceptor {
  return (next) => async (req) => {
    const isSafe = safe[req.method.name];
    if (req.stream || !isSafe || !isSafe(req.message as Record<string, unknown>)) {
      return await next(req);
    }
    return await retryUnavailable(() => next(req), {
      until: Date.now() + retryTimeoutMs,
      signal: req.signal,
    });
  };
}
