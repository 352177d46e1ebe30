/**
 * The claims of concurrent polls, one statement at a time per (namespace, types, versions):
 * polls that ask while a claim of theirs is running wait for it to end and are then claimed for
 * together, in one statement (`claimRuns`), each with its own worker and limit. Under load,
 * many small workers (W6: 20 × 10) otherwise each run the claim (its planning and index probes,
 * the slot rows it locks) for a few runs apiece, several at once, skipping each other's rows.
 * A lone poll claims at once, as before.
 */
import { workTopic } from "../engine/notify.ts";
import type { ClaimAsk, ClaimedRow } from "../store/claim.ts";
import { claimRuns } from "../store/claim.ts";
import type { ServiceContext } from "./_context.ts";

/** A poll's claim: what it asks for, and what it serves. */
export interface PollClaim extends ClaimAsk {
  namespaceId: string;
  types: string[];
  versions: string[];
  /** A poll whose caller hung up meanwhile is claimed nothing. */
  signal: AbortSignal;
}

/** What a poll is claimed: its runs, and the statement's `deferred` count. */
export type Claimed = ClaimedRow[] & { deferred?: number };

interface Waiting {
  claim: PollClaim;
  resolve: (rows: Claimed) => void;
  reject: (err: unknown) => void;
}

/**
 * The runs one statement claims at most: two full polls (a poll asks for 100 at most), or twenty
 * workers of ten slots. A claim's time grows with the rows it updates, and the polls behind it wait.
 */
const maxRunsPerStatement = 200;

/**
 * How long a lane whose claim found runs under flow control claims with the full statement at
 * once (the plain one would only find them again), before trying the plain one again.
 */
const fullClaimMs = 10_000;

/** Runs the claims of polls, those that wait for the same claim together. */
export class PollClaims {
  readonly #ctx: ServiceContext;
  /** Per key, the polls waiting for the claim running now (present while one runs). */
  readonly #lanes = new Map<string, Waiting[]>();
  /** Per key, until when its claims take the full statement at once (performance.now()). */
  readonly #fullUntil = new Map<string, number>();

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx;
  }

  /** Claims for `claim`, alone or with the polls that wait beside it. */
  claim(claim: PollClaim): Promise<Claimed> {
    const key = JSON.stringify([claim.namespaceId, claim.types, claim.versions]);
    return new Promise((resolve, reject) => {
      const waiting = { claim, resolve, reject };
      const lane = this.#lanes.get(key);
      if (lane) return void lane.push(waiting);
      const fresh = [waiting];
      this.#lanes.set(key, fresh);
      // Polls of the same tick join the first statement.
      queueMicrotask(() => this.#drain(key, fresh));
    });
  }

  async #drain(key: string, lane: Waiting[]): Promise<void> {
    try {
      while (lane.length) {
        let runs = 0;
        let n = 0;
        while (n < lane.length && (n === 0 || runs + lane[n].claim.limit <= maxRunsPerStatement)) {
          runs += lane[n++].claim.limit;
        }
        await this.#run(key, lane.splice(0, n));
      }
    } finally {
      this.#lanes.delete(key);
    }
  }

  async #run(key: string, batch: Waiting[]): Promise<void> {
    const live = batch.filter((w) => {
      if (!w.claim.signal.aborted) return true;
      w.resolve(Object.assign([], { deferred: 0 }));
      return false;
    });
    if (!live.length) return;
    const { namespaceId, types, versions } = live[0].claim;
    const { db, config, metrics, notifier } = this.#ctx;
    try {
      const full = (this.#fullUntil.get(key) ?? 0) > performance.now();
      if (!full) this.#fullUntil.delete(key);
      const { runs, deferred, flow } = await claimRuns(
        db,
        namespaceId,
        types,
        versions,
        live.map((w) => w.claim),
        config.leaseMs,
        {
          // Runs held back by a run rate limit are due at their turn: wake a poll then.
          onHeldBack: (at) => notifier.publishAt(workTopic(namespaceId), at),
          full,
        },
      );
      if (flow && !full) this.#fullUntil.set(key, performance.now() + fullClaimMs);
      metrics.pollClaim(namespaceId, runs.some((r) => r.length) ? "claimed" : "empty");
      metrics.claimPolls(namespaceId, live.length);
      live.forEach((w, i) => w.resolve(Object.assign(runs[i], { deferred })));
    } catch (err) {
      for (const w of live) w.reject(err);
    }
  }
}
