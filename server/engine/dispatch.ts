/**
 * The waiting PollTask calls of this server, so that work reaches them without a broadcast:
 *
 * - **Sync match.** A start looks for an idle poll that serves its type and reserves it; the
 *   start's own insert then stores the run already claimed for that poll's worker, and the poll
 *   is answered with it. No claim query, no second commit, two hops fewer.
 * - **Wake one.** A run that becomes due wakes one idle poll that serves it, not every poll of
 *   the namespace; a poll busy with its claim query is told to look again instead.
 *
 * Broadcasts remain for what is not about one run (the ticker's periodic wake-ups, a released
 * worker, notifications from other servers). Hand-rolled: this is the engine's own scheduling.
 */
import type { ClaimedRow } from "../store/queue.ts";

/** What a waiting poll serves. */
export interface PollSpec {
  namespaceId: string;
  workerId: string;
  /** (type, version) pairs, as two parallel arrays. */
  types: string[];
  versions: string[];
  /** Most tasks it takes. */
  limit: number;
  /** performance.now() when the request arrived (leases are counted from there). */
  received: number;
}

/** How a poll's wait ended. */
export type WaitOutcome =
  | { kind: "woken" }
  | { kind: "tasks"; rows: ClaimedRow[]; expiresIn: number }
  | { kind: "timeout" }
  | { kind: "aborted" };

type State = "claiming" | "idle" | "done";

/** One PollTask call, registered for its whole life. */
export class Poll {
  state: State = "claiming";
  /** Work arrived while it was not idle: look again before waiting. */
  recheck = false;
  /** Tasks promised to it by starts being written. */
  reserved = 0;
  #handed: ClaimedRow[] = [];
  #expiresIn = 0;
  #ended?: "timeout" | "aborted";
  #resolve?: (o: WaitOutcome) => void;

  constructor(readonly spec: PollSpec, private readonly leaseMs: number) {}

  /** Whether it serves runs of `type` (and `version`, when known). */
  serves(type: string, version?: string): boolean {
    const { types, versions } = this.spec;
    for (let i = 0; i < types.length; i++) {
      if (types[i] === type && (version === undefined || versions[i] === version)) return true;
    }
    return false;
  }

  /** The versions of `type` it serves. */
  versionsOf(type: string): string[] {
    return this.spec.versions.filter((_, i) => this.spec.types[i] === type);
  }

  /** Room for one more handed task. */
  get free(): boolean {
    return this.state === "idle" && this.#ended === undefined && this.#resolve !== undefined &&
      this.reserved + this.#handed.length < this.spec.limit;
  }

  /** Waits until woken, handed tasks, the timeout or the abort. */
  wait(ms: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (this.recheck) {
      this.recheck = false;
      return Promise.resolve({ kind: "woken" });
    }
    if (signal.aborted) return Promise.resolve({ kind: "aborted" });
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#end("timeout"), Math.max(0, ms));
      const onAbort = () => this.#end("aborted");
      signal.addEventListener("abort", onAbort, { once: true });
      this.#resolve = (o) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#resolve = undefined;
        this.state = "claiming";
        resolve(o);
      };
      this.state = "idle";
    });
  }

  /** Reserves room for one task; the start's write then hands it or cancels. */
  reserve(): void {
    this.reserved++;
    // Counted from the request's arrival up to now, before the lease is set by the insert.
    this.#expiresIn = Math.floor(performance.now() - this.spec.received) + this.leaseMs;
  }

  /** The reserved run was stored claimed for this poll's worker. */
  hand(row: ClaimedRow): void {
    this.reserved--;
    this.#handed.push(row);
  }

  /** The reserved run was not stored claimed (a duplicate, a version it does not serve). */
  cancel(): void {
    this.reserved--;
  }

  /**
   * Answers the poll with what it was handed, once no reservation is open. Returns the rows
   * nobody will receive (the poll ended meanwhile): the caller puts them back in the queue.
   */
  settle(): ClaimedRow[] {
    if (this.reserved > 0) return [];
    const rows = this.#handed;
    this.#handed = [];
    if (this.#ended === "aborted") {
      this.#finish({ kind: "aborted" });
      return rows;
    }
    if (rows.length) this.#finish({ kind: "tasks", rows, expiresIn: this.#expiresIn });
    else if (this.#ended) this.#finish({ kind: this.#ended });
    else if (this.recheck) this.#wake();
    return [];
  }

  /** Wakes it to claim (only when idle with nothing reserved or handed). */
  wake(): boolean {
    if (this.state !== "idle" || this.reserved || this.#handed.length || this.#ended) return false;
    this.#wake();
    return true;
  }

  #wake(): void {
    this.recheck = false;
    this.#resolve?.({ kind: "woken" });
  }

  #end(kind: "timeout" | "aborted"): void {
    this.#ended = kind;
    // With a task reserved, a timeout still delivers it (settle); an abort gives it back.
    if (this.reserved === 0 && this.#handed.length === 0) this.#finish({ kind });
  }

  #finish(o: WaitOutcome): void {
    this.#resolve?.(o);
  }
}

/** The waiting polls of this server, by namespace. */
export class Dispatcher {
  readonly #polls = new Map<string, Set<Poll>>();
  /** Per namespace, bumped whenever work may have become due there. */
  readonly #seq = new Map<string, number>();
  /** Per worker: the namespace's seq when its last claim query began, if it found all there was. */
  readonly #lastClaim = new Map<string, number>();

  /**
   * @param leaseMs the lease a claim gets.
   * @param announce tells other servers that work is due in a namespace (NOTIFY).
   */
  constructor(
    private readonly leaseMs: number,
    private readonly announce: (namespaceId: string) => void = () => {},
  ) {}

  /**
   * Whether a poll of `workerId` must run a claim query before it waits: not when its last
   * claim query found less than it asked for and nothing became due in the namespace since
   * (every way work becomes due passes here: starts, wake-ups, the ticker's periodic pass,
   * other servers' notifications). Returns the token to give {@linkcode Dispatcher.claimed}.
   */
  mustClaim(namespaceId: string, workerId: string): { must: boolean; seq: number } {
    const seq = this.#seq.get(namespaceId) ?? 0;
    return { must: this.#lastClaim.get(`${namespaceId}/${workerId}`) !== seq, seq };
  }

  /** A claim query that began at `seq` returned; `full` when it found as many as it asked. */
  claimed(namespaceId: string, workerId: string, seq: number, full: boolean): void {
    const key = `${namespaceId}/${workerId}`;
    if (full) this.#lastClaim.delete(key);
    else {
      if (this.#lastClaim.size > 100_000) this.#lastClaim.clear();
      this.#lastClaim.set(key, seq);
    }
  }

  /** Forgets a worker (deregistered). */
  forget(namespaceId: string, workerId: string): void {
    this.#lastClaim.delete(`${namespaceId}/${workerId}`);
  }

  #bump(namespaceId: string): void {
    this.#seq.set(namespaceId, (this.#seq.get(namespaceId) ?? 0) + 1);
  }

  /** A run became due: wakes one poll here that serves it, and tells other servers. */
  runDue(namespaceId: string, type: string, version?: string): void {
    this.wakeOne(namespaceId, type, version);
    this.announce(namespaceId);
  }

  /** Registers a poll; close it when the call ends. */
  open(spec: PollSpec): Poll {
    const poll = new Poll(spec, this.leaseMs);
    let set = this.#polls.get(spec.namespaceId);
    if (!set) this.#polls.set(spec.namespaceId, set = new Set());
    set.add(poll);
    return poll;
  }

  close(poll: Poll): void {
    poll.state = "done";
    const set = this.#polls.get(poll.spec.namespaceId);
    set?.delete(poll);
    if (set?.size === 0) this.#polls.delete(poll.spec.namespaceId);
  }

  /** An idle poll with room that serves `type`, reserved for one task; undefined if none. */
  reserve(namespaceId: string, type: string): Poll | undefined {
    for (const p of this.#polls.get(namespaceId) ?? []) {
      if (p.free && p.serves(type)) {
        p.reserve();
        return p;
      }
    }
    return undefined;
  }

  /**
   * A run of `type` (and `version`, when known) became due: wakes one idle poll that serves it,
   * or, when none is idle, tells the polls that are claiming now to look again.
   */
  wakeOne(namespaceId: string, type: string, version?: string): void {
    this.#bump(namespaceId);
    const polls = this.#polls.get(namespaceId);
    if (!polls) return;
    for (const p of polls) {
      // The poll moves to the end: the next wake-up goes to another one.
      if (p.serves(type, version) && p.wake()) {
        polls.delete(p);
        polls.add(p);
        return;
      }
    }
    for (const p of polls) {
      if ((p.state !== "idle" || p.reserved) && p.serves(type, version)) p.recheck = true;
    }
  }

  /** Wakes every poll of every namespace (e.g. notifications may have been missed). */
  wakeEverywhere(): void {
    for (const namespaceId of [...this.#polls.keys()]) this.wakeAll(namespaceId);
  }

  /** Wakes every poll of the namespace (periodic wake-ups, other servers, released runs). */
  wakeAll(namespaceId: string): void {
    this.#bump(namespaceId);
    for (const p of this.#polls.get(namespaceId) ?? []) {
      if (!p.wake()) p.recheck = true;
    }
  }
}
