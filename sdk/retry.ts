/** Retry policies for steps, built fluently. */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { BackoffKind, type RetryPolicy, RetryPolicySchema } from "@kagzi/proto";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError } from "./errors.ts";

interface Fields {
  maximumAttempts: number;
  initialMs: number;
  maxMs: number;
  coefficient: number;
  nonRetryable: string[];
  backoff: "exponential" | "linear";
}

/** Reads a policy's fields; set by the class (its fields are private). */
let fieldsOf: (r: Retry) => Fields;

/**
 * How a failed step is retried. Retries are durable: the server schedules them,
 * so they survive worker restarts.
 *
 * @example
 * ```ts
 * import { Retry } from "@kagzi/sdk";
 *
 * const policy = Retry.exponential(5).initial("1s").max("60s").backoff(2).nonRetryable(["NotFound"]);
 * console.log(policy.maximumAttempts);
 * ```
 */
export class Retry {
  readonly #f: Fields;

  private constructor(f: Fields) {
    this.#f = f;
  }

  /** `n` attempts in all, exponential backoff from 1s, ×2, at most 60s. */
  static attempts(n: number): Retry {
    return new Retry({
      maximumAttempts: checkAttempts(n),
      initialMs: 1_000,
      maxMs: 60_000,
      coefficient: 2,
      nonRetryable: [],
      backoff: "exponential",
    });
  }

  /** Like {@linkcode Retry.attempts}: `n` attempts with exponential backoff. */
  static exponential(n: number): Retry {
    return Retry.attempts(n);
  }

  /** `n` attempts, `interval` apart. */
  static linear(n: number, interval: Duration): Retry {
    const ms = parseDuration(interval, "interval");
    return new Retry({
      ...Retry.attempts(n).#f,
      backoff: "linear",
      initialMs: ms,
      maxMs: Math.max(ms, 60_000),
    });
  }

  /** One attempt: fail at once. */
  static none(): Retry {
    return Retry.attempts(1);
  }

  /** Retry until the run is cancelled. */
  static forever(): Retry {
    return new Retry({ ...Retry.attempts(1).#f, maximumAttempts: 0 });
  }

  /** The first delay. */
  initial(d: Duration): Retry {
    return new Retry({ ...this.#f, initialMs: parseDuration(d, "initial") });
  }

  /** The longest delay. */
  max(d: Duration): Retry {
    return new Retry({ ...this.#f, maxMs: parseDuration(d, "max") });
  }

  /** The factor each delay grows by (at least 1). */
  backoff(coefficient: number): Retry {
    if (!Number.isFinite(coefficient) || coefficient < 1 || coefficient > 100) {
      throw new KagziError(
        "INVALID_ARGUMENT",
        `Invalid backoff ${coefficient}: use a number from 1 to 100`,
        {
          subject: "backoff",
          nonRetryable: true,
        },
      );
    }
    return new Retry({ ...this.#f, coefficient });
  }

  /** Error names (`Error#name`) that fail the step at once. */
  nonRetryable(names: string[]): Retry {
    return new Retry({ ...this.#f, nonRetryable: [...names] });
  }

  /** Attempts in all; 0 means unlimited. */
  get maximumAttempts(): number {
    return this.#f.maximumAttempts;
  }

  static {
    fieldsOf = (r) => r.#f;
  }
}

/** A policy as sent on the wire (not exported from the package). */
export function retryToProto(r: Retry): RetryPolicy {
  const f = fieldsOf(r);
  return create(RetryPolicySchema, {
    maximumAttempts: f.maximumAttempts,
    initialInterval: durationFromMs(f.initialMs),
    maximumInterval: durationFromMs(f.maxMs),
    backoffCoefficient: f.coefficient,
    nonRetryableErrors: f.nonRetryable,
    backoff: f.backoff === "linear" ? BackoffKind.LINEAR : BackoffKind.EXPONENTIAL,
  });
}

/** The most attempts a policy may count (Retry.forever() has no limit). */
const maxAttempts = 1_000_000;

/**
 * `n` when it is a number of attempts; else INVALID_ARGUMENT saying that the first attempt
 * counts. `call` names the builder call checked (e.g. `retries(0)`), `subject` its field.
 */
export function checkAttempts(n: number, call?: string, subject = "attempts"): number {
  if (!Number.isInteger(n) || n < 1 || n > maxAttempts) {
    const why = call
      ? `Invalid ${call}: it counts attempts, the first included`
      : `Invalid number of attempts ${n}: the first attempt counts too`;
    throw new KagziError(
      "INVALID_ARGUMENT",
      `${why}; use a whole number from 1 (no retry) to ${maxAttempts}, or ` +
        `${call ? ".retry(Retry.forever())" : "Retry.forever()"} for no limit`,
      { subject, nonRetryable: true },
    );
  }
  return n;
}
