/**
 * Whether runs have ended, asked without waiting: what a `result({ timeout })` whose timeout
 * passed before any answer about its run arrived asks before it reports TIMEOUT, so a run that
 * had already ended gives its outcome whatever the timeout. Peeks made together travel in one
 * WaitRuns with a zero timeout (the server answers at once with those that ended); a server
 * without WaitRuns is asked with a GetWorkflow per run. Passing faults are retried for up to
 * 2 s (the client's `retryTimeout` when shorter), so a timeout is never stretched further.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorDetail, type Payload, WorkflowStatus as WireStatus } from "@kagzi/proto";
import { retryDelay, sleep } from "../_backoff.ts";
import { ItemError, MicroBatcher } from "../batcher.ts";
import { KagziError } from "../errors.ts";
import type { Services } from "./_services.ts";

/** How a waited-for run ended (or why it cannot be waited for: status UNSPECIFIED, `error`). */
export interface Outcome {
  status: WireStatus;
  output?: Payload;
  error?: ErrorDetail;
}

/** Whether `status` is one a run ends with. */
export function isEndStatus(status: WireStatus): boolean {
  return status === WireStatus.COMPLETED || status === WireStatus.FAILED ||
    status === WireStatus.CANCELLED;
}

/** The most run ids in one peek (the server takes up to 1,000). */
const maxBatch = 500;
/**
 * How long a peek may take in all, its retries included (or the client's `retryTimeout` when
 * shorter): a timeout is not stretched by more than this when the server does not answer.
 */
const peekMs = 2_000;
/** Errors that retrying cannot change. */
const permanent = new Set(["INVALID_ARGUMENT", "UNAUTHORIZED", "PERMISSION_DENIED", "NOT_FOUND"]);

/** Whether `code` says something about the call itself, not a passing fault. */
export function isPermanent(code: string): boolean {
  return permanent.has(code);
}

/** The peeks of one namespace. */
export class RunPeeks {
  readonly #batcher = new MicroBatcher<string, Outcome | null>(
    (ids) => this.#flush(ids),
    { maxBatch, maxInFlight: 4, splitFailedBatch: false },
  );

  /** `legacy()` says whether the server is known to have no WaitRuns. */
  constructor(
    private readonly services: Services,
    private readonly namespace: string,
    private readonly legacy: () => boolean,
  ) {}

  /**
   * How run `id` ended, or null while it is open (or UNSPECIFIED with the error when it cannot
   * be waited for); rejects with the last error when the server did not answer in time.
   */
  peek(id: string): Promise<Outcome | null> {
    return this.#batcher.add(id);
  }

  async #flush(ids: string[]): Promise<(Outcome | null | ItemError)[]> {
    const until = Date.now() + Math.min(this.services.retryTimeoutMs, peekMs);
    for (let failures = 0;; failures++) {
      try {
        return this.legacy() ? await this.#getEach(ids) : await this.#waitRuns(ids);
      } catch (err) {
        const e = KagziError.from(err);
        const delay = retryDelay(failures, e);
        if (isPermanent(e.code) || Date.now() + delay >= until) throw e;
        await sleep(delay);
      }
    }
  }

  async #waitRuns(ids: string[]): Promise<(Outcome | null | ItemError)[]> {
    try {
      const res = await this.services.workflows.waitRuns(
        { namespace: this.namespace, runIds: ids, timeout: durationFromMs(0) },
        { timeoutMs: peekMs },
      );
      const ended = new Map(res.ended.map((o) => [o.runId, o]));
      return ids.map((id) => ended.get(id) ?? null);
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
        return await this.#getEach(ids);
      }
      throw err;
    }
  }

  /** A GetWorkflow per run; an unknown or malformed run id fails its own peek only. */
  #getEach(ids: string[]): Promise<(Outcome | null | ItemError)[]> {
    return Promise.all(ids.map(async (runId) => {
      try {
        const res = await this.services.workflows.getWorkflow(
          { namespace: this.namespace, runId },
          { timeoutMs: peekMs },
        );
        const wf = res.workflow!;
        return isEndStatus(wf.status) ? wf : null;
      } catch (err) {
        const e = KagziError.from(err);
        if (isPermanent(e.code)) return new ItemError(e);
        throw e;
      }
    }));
  }
}
