/**
 * A registered worker at work: long-polls for runs and starts an execution for each (up to its
 * concurrency), heartbeats its leases, and on shutdown drains, releases and deregisters. The
 * public face is `Worker` (`worker.ts`); one execution is `Execution` (`_replay.ts`).
 */
import type { Client } from "@connectrpc/connect";
import type { Task, WorkerService } from "@kagzi/proto";
import type { WorkflowFn } from "./context.ts";
import { KagziError } from "./errors.ts";
import { Execution } from "./_replay.ts";
import { WorkerRpc } from "./_rpc.ts";
import { type Instant, Leases, now } from "./_lease.ts";
import { listenForSignals } from "./_platform.ts";

/** What `WorkerBuilder.build()` hands the worker: its client, identity and settings. */
export interface WorkerInit {
  client: Client<typeof WorkerService>;
  register: () => Promise<{ workerId: string }>;
  namespace: string;
  workerId: string;
  heartbeatMs: number;
  leaseMs: number;
  /** How long the server holds a poll; a poll unanswered well past it is abandoned. */
  pollTimeoutMs: number;
  maxConcurrent: number;
  shutdownTimeoutMs: number;
  handlers: Map<string, WorkflowFn>;
  /** The clock durable sleeps and signal timeouts are timed by: the server's when in process. */
  now: () => number;
}

/** Counts of what a worker did, for observability and tests. */
export interface WorkerStats {
  /** Executions that completed their run. */
  completed: number;
  /** Executions that failed their run. */
  failed: number;
  /** Executions that ended suspended (a durable sleep or a scheduled retry). */
  suspended: number;
  /** Executions that ended without reporting an outcome (released, or the server unreachable). */
  abandoned: number;
  /** RPCs made about runs, by method, plus polls and heartbeats. */
  rpcs: Record<string, number>;
}

/** Polls, executes, heartbeats and shuts down for one `Worker`. */
export class WorkerLoop {
  readonly #init: WorkerInit;
  readonly #rpc: WorkerRpc;
  readonly #leases: Leases;
  readonly #active = new Map<string, Execution>();
  readonly #stats: WorkerStats = { completed: 0, failed: 0, suspended: 0, abandoned: 0, rpcs: {} };
  #deltas = { completed: 0, failed: 0 };
  #stopping = false;
  #pollAbort = new AbortController();
  #slotFreed?: () => void;
  #wakeHeartbeat?: () => void;
  #running?: Promise<void>;
  #stopped?: Promise<void>;

  constructor(init: WorkerInit) {
    this.#init = init;
    this.#leases = new Leases(() => this.#beat(), init.leaseMs);
    this.#rpc = new WorkerRpc(
      init.client,
      init.namespace,
      init.workerId,
      init.leaseMs,
      this.#leases,
    );
  }

  /** This worker's id, as the server knows it. */
  get id(): string {
    return this.#rpc.workerId;
  }

  /** What this worker did so far. */
  get stats(): WorkerStats {
    return { ...this.#stats, rpcs: { ...this.#stats.rpcs, ...this.#rpc.counts } };
  }

  /** Polls and executes runs until `shutdown()` or SIGINT/SIGTERM; resolves once drained. */
  run(): Promise<void> {
    this.#running ??= this.#run();
    return this.#running;
  }

  async #run(): Promise<void> {
    const stop = () => void this.shutdown();
    const signals = listenForSignals(stop);
    const heartbeat = this.#heartbeatLoop();
    try {
      await this.#pollLoop();
      await this.#stopped;
    } finally {
      signals();
      await heartbeat;
    }
  }

  /** Stops polling, waits for in-flight runs (up to the shutdown timeout), releases the rest, deregisters. */
  shutdown(): Promise<void> {
    this.#stopped ??= this.#shutdown();
    return this.#stopped;
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    this.#pollAbort.abort();
    this.#slotFreed?.();
    this.#wakeHeartbeat?.();
    const deadline = Date.now() + this.#init.shutdownTimeoutMs;
    while (this.#active.size && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    // Release what is left: abort it and let its steps settle, storing the outputs of those
    // that complete (a step never runs on two workers, nor twice when it finished in time).
    const left = [...this.#active.values()];
    for (const e of left) e.stop("worker shutting down");
    await Promise.all(left.map((e) => e.settled()));
    for (const e of left) e.release("worker shutting down");
    try {
      await this.#init.client.deregister({
        namespace: this.#init.namespace,
        workerId: this.id,
        release: left.map((e) => e.lease),
      }, { timeoutMs: 10_000 });
    } catch {
      // The server is away: the leases expire and the runs are picked up again.
    }
  }

  async #pollLoop(): Promise<void> {
    let backoff = 100;
    while (!this.#stopping) {
      const free = this.#init.maxConcurrent - this.#active.size;
      if (free <= 0) {
        await new Promise<void>((r) => (this.#slotFreed = r));
        continue;
      }
      let tasks: Task[];
      const sentAt = now();
      try {
        this.#count("pollTask");
        const res = await this.#init.client.pollTask(
          { namespace: this.#init.namespace, workerId: this.id, maxTasks: free },
          // A connection dropped without a reset (an instance frozen or evicted) ends here.
          { signal: this.#pollAbort.signal, timeoutMs: this.#init.pollTimeoutMs + 10_000 },
        );
        tasks = res.tasks;
        backoff = 100;
      } catch (err) {
        if (this.#stopping) return;
        const e = KagziError.from(err);
        if (e.code === "NOT_FOUND" && e.subject === "worker") {
          // The server forgot this worker (its database was reset): register again.
          await this.#init.register().then((r) => (this.#rpc.workerId = r.workerId)).catch(
            () => {},
          );
        }
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random() / 2)));
        backoff = Math.min(backoff * 2, 5_000);
        continue;
      }
      for (const task of tasks) this.#start(task, sentAt);
    }
  }

  #start(task: Task, sentAt: Instant): void {
    const fn = this.#init.handlers.get(`${task.workflowType}@${task.version}`);
    const exec = new Execution(this.#rpc, task, fn ?? missingHandler(task), this.#init.now);
    // Claimed again (an older lease of ours was recovered): the older execution lost it.
    this.#active.get(task.runId)?.release("run claimed again");
    this.#active.set(task.runId, exec);
    this.#leases.set(exec.lease, sentAt, protoMs(task.leaseExpiresIn) ?? this.#init.leaseMs);
    // An answer read late (the worker was frozen or starved) starts nothing unless a
    // heartbeat extends the lease first; otherwise the task is dropped without a word.
    Promise.resolve(this.#leases.hold(exec.lease)).then((held) =>
      held ? exec.execute() : "abandoned" as const
    ).then((outcome) => {
      this.#stats[outcome]++;
      if (outcome === "completed") this.#deltas.completed++;
      if (outcome === "failed") this.#deltas.failed++;
    }, () => {
      // The server could not be reached to report the outcome: the lease expires and
      // another execution takes over.
      this.#stats.abandoned++;
    }).finally(() => {
      exec.release("execution ended");
      this.#leases.drop(exec.lease);
      if (this.#active.get(task.runId) === exec) this.#active.delete(task.runId);
      this.#slotFreed?.();
    });
  }

  async #heartbeatLoop(): Promise<void> {
    while (!(this.#stopping && this.#stopped && this.#active.size === 0)) {
      // Shutdown cuts the wait short: its timer would keep a Node or Bun process alive.
      await new Promise<void>((r) => {
        const timer = setTimeout(r, this.#stopping ? 50 : this.#init.heartbeatMs);
        this.#wakeHeartbeat = () => (clearTimeout(timer), r());
      });
      if (this.#stopping && this.#active.size === 0) break;
      if (this.#stopping && (this.#lastBeat ?? 0) + this.#init.heartbeatMs > Date.now()) continue;
      await this.#leases.beat();
    }
  }

  #lastBeat?: number;

  /** One heartbeat: extends the leases it carried, drops lost ones; false if it failed. */
  async #beat(): Promise<boolean> {
    this.#lastBeat = Date.now();
    const sentAt = now();
    const active = [...this.#active.values()];
    const deltas = this.#deltas;
    this.#deltas = { completed: 0, failed: 0 };
    try {
      this.#count("heartbeat");
      const res = await this.#init.client.heartbeat({
        namespace: this.#init.namespace,
        workerId: this.id,
        activeCount: active.length,
        completedDelta: BigInt(deltas.completed),
        failedDelta: BigInt(deltas.failed),
        leases: active.map((e) => e.lease),
      }, { timeoutMs: this.#init.heartbeatMs * 2 });
      const cancelled = new Set(res.cancelledRunIds);
      const lost = new Set(res.lostRunIds);
      const expiresIn = protoMs(res.leaseExpiresIn) ?? this.#init.leaseMs;
      for (const e of active) {
        const gone = cancelled.has(e.lease.runId)
          ? "run cancelled"
          : lost.has(e.lease.runId) && "lease lost";
        if (gone) {
          this.#leases.drop(e.lease);
          e.release(gone);
        } else this.#leases.extend(e.lease, sentAt, expiresIn);
      }
      if (res.shouldDrain) void this.shutdown();
      return true;
    } catch {
      this.#deltas.completed += deltas.completed;
      this.#deltas.failed += deltas.failed;
      return false;
    }
  }

  #count(name: string): void {
    this.#stats.rpcs[name] = (this.#stats.rpcs[name] ?? 0) + 1;
  }
}

function missingHandler(task: Task): WorkflowFn {
  return () =>
    Promise.reject(
      new KagziError(
        "NOT_FOUND",
        `No handler for workflow "${task.workflowType}" version "${task.version}" on this worker`,
        {
          nonRetryable: true,
        },
      ),
    );
}

/** Milliseconds of a protobuf Duration, or undefined when it is not set. */
export const protoMs = (d: { seconds: bigint; nanos: number } | undefined) =>
  d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : undefined;
