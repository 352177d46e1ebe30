/**
 * The server's clock for engine time (when a sleep, retry, timeout, deadline or schedule is
 * due). It is the system clock unless `createServer` is given another, such as the virtual
 * clock of the testing kit (`server/testing.ts`). Waits of requests (long polls) and
 * housekeeping intervals are real time and do not read it.
 */

/** A source of the current time. */
export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
  /** It jumps (a test's virtual clock): a request is never held open until a time it reads. */
  readonly virtual?: boolean;
}

/** The system clock. */
export const systemClock: Clock = { now: () => Date.now() };
