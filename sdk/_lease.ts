/**
 * The worker's own view of its leases, so that a worker which was frozen (SIGSTOP, a VM
 * pause, a long GC), starved or cut off from the server starts nothing once a lease may have
 * expired: no run from a poll answer read late, no step of a run another worker may have taken
 * over. Its late writes would be refused by fencing anyway; this stops its side effects.
 *
 * The server answers with durations — "the lease lasts at least this long from when I received
 * your request" — and the worker counts them from when it SENT the request. A request arrives
 * after it was sent, so the deadline kept here is never later than the server's, whatever the
 * two machines' clocks say. Time is measured twice, on the monotonic clock (immune to clock
 * changes) and on the wall clock (which keeps counting while the machine is suspended, when the
 * monotonic one stops), and the sooner deadline counts.
 *
 * Hand-rolled: a map of deadlines and one coalesced heartbeat; no library does this.
 */

/** A moment on both clocks. */
export interface Instant {
  mono: number;
  wall: number;
}

/** Now, on both clocks. */
export function now(): Instant {
  return { mono: performance.now(), wall: Date.now() };
}

/** A lease as the worker holds it. */
export interface LeaseRef {
  runId: string;
  fence: bigint;
}

const key = (l: LeaseRef) => `${l.runId}/${l.fence}`;

/** Lease deadlines of a worker's executions, and the wait for a heartbeat that extends them. */
export class Leases {
  readonly #deadlines = new Map<string, Instant>();
  #beating?: Promise<boolean>;

  /**
   * @param heartbeat sends one heartbeat for all held leases and applies its answer with
   *   {@linkcode Leases.extend} / {@linkcode Leases.drop}; resolves false when the server
   *   could not be reached.
   * @param leaseMs the lease duration; a quarter of it is the safety margin, and how long
   *   {@linkcode Leases.hold} waits for an extension before giving up.
   */
  constructor(
    private readonly heartbeat: () => Promise<boolean>,
    private readonly leaseMs: number,
  ) {}

  /** Nothing is started with less than this much of the lease left. */
  get marginMs(): number {
    return this.leaseMs / 4;
  }

  /** Tracks a lease that lasts `expiresInMs` from `sentAt` (when its request was sent). */
  set(lease: LeaseRef, sentAt: Instant, expiresInMs: number): void {
    this.#deadlines.set(key(lease), at(sentAt, expiresInMs));
  }

  /** A heartbeat sent at `sentAt` extended the lease by `expiresInMs`. */
  extend(lease: LeaseRef, sentAt: Instant, expiresInMs: number): void {
    const k = key(lease);
    const old = this.#deadlines.get(k);
    if (!old) return;
    const d = at(sentAt, expiresInMs);
    this.#deadlines.set(k, { mono: Math.max(old.mono, d.mono), wall: Math.max(old.wall, d.wall) });
  }

  /** Forgets a lease: lost, cancelled, released, or its execution ended. */
  drop(lease: LeaseRef): void {
    this.#deadlines.delete(key(lease));
  }

  /** Milliseconds of the lease left (negative once it may have expired); undefined if not held. */
  remaining(lease: LeaseRef): number | undefined {
    const d = this.#deadlines.get(key(lease));
    if (!d) return undefined;
    const n = now();
    return Math.min(d.mono - n.mono, d.wall - n.wall);
  }

  /** One heartbeat; callers arriving while one is in flight share it. */
  beat(): Promise<boolean> {
    return this.#beating ??= this.heartbeat().finally(() => (this.#beating = undefined));
  }

  /**
   * Whether the holder of `lease` may start something now: `true` at once while more than the
   * margin is left. Otherwise it heartbeats until an answer extends the lease past the margin
   * (true), drops it as lost or cancelled (false), or no extension came within one lease
   * duration (false: the server is away, and the run will be recovered from what was stored).
   */
  hold(lease: LeaseRef): true | Promise<boolean> {
    const left = this.remaining(lease);
    if (left !== undefined && left >= this.marginMs) return true;
    return this.#extend(lease);
  }

  async #extend(lease: LeaseRef): Promise<boolean> {
    const giveUp = now().mono + this.leaseMs;
    for (let pause = 25;; pause = Math.min(pause * 2, 1_000)) {
      if (this.remaining(lease) === undefined) return false;
      await this.beat();
      const left = this.remaining(lease);
      if (left === undefined) return false;
      if (left >= this.marginMs) return true;
      if (now().mono + pause > giveUp) return false;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

function at(from: Instant, ms: number): Instant {
  return { mono: from.mono + ms, wall: from.wall + ms };
}
