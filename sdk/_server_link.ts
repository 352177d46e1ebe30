/**
 * Whether the worker can reach its server, as its polls and heartbeats find out: the first
 * failure of an outage is one WARN line, the first success after it one INFO line saying how
 * long it lasted; the failures in between are DEBUG. So a 40 s outage is two lines, not none
 * and not hundreds.
 */
import { KagziError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** Tracks the worker's link to its server and logs when it is lost and regained. */
export class ServerLink {
  #lostAt: number | undefined;

  constructor(
    private readonly log: Logger,
    private readonly address: string,
    private readonly workerId: () => string,
  ) {}

  /** Whether the last call failed. */
  get lost(): boolean {
    return this.#lostAt !== undefined;
  }

  /** A call (`what`: "poll", "heartbeat", …) failed with `err`. */
  failed(what: string, err: unknown): void {
    const e = KagziError.from(err);
    const fields = { workerId: this.workerId(), call: what, code: e.code, error: e.message };
    if (this.#lostAt !== undefined) {
      this.log.debug(`${what} failed again: ${e.message}`, fields);
      return;
    }
    this.#lostAt = Date.now();
    const unreachable = e.code === "UNAVAILABLE" || e.code === "TIMEOUT";
    this.log.warn(
      unreachable
        ? `lost the server at ${this.address} (${what}: ${e.message}); retrying`
        : `the server at ${this.address} refused ${what}: ${e.code}: ${e.message}; retrying`,
      fields,
    );
  }

  /** A call succeeded. */
  ok(): void {
    if (this.#lostAt === undefined) return;
    const ms = Date.now() - this.#lostAt;
    this.#lostAt = undefined;
    this.log.info(
      `reached the server at ${this.address} again after ${(ms / 1000).toFixed(1)} s`,
      { workerId: this.workerId(), outageMs: ms },
    );
  }
}
