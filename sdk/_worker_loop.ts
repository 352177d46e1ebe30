/**
 * A registered worker at work: long-polls for runs and starts an execution for each (up to its
 * concurrency), heartbeats its leases, and on shutdown drains, releases and deregisters. A Report
 * that ends runs asks for new ones for the slots it frees (`TaskFeed`): under load a worker takes
 * its next runs with its last outcomes and polls only for slots those did not fill. The public
 * face is `Worker` (`worker.ts`); one execution is `Execution` (`_replay.ts`).
 */
import type { Task } from "@kagzi/proto";
import { KagziError } from "./errors.ts";
import { Execution } from "./_replay.ts";
import { carriesOf, type TaskFeed, WorkerRpc } from "./_rpc.ts";
import { retryDelay, retryUnavailable, sleep } from "./_backoff.ts";
import { type Instant, Leases, now } from "./_lease.ts";
import { listenForSignals } from "./_platform.ts";
import { ServerLink } from "./_server_link.ts";
import { missingHandler, protoMs, type WorkerInit, type WorkerStats } from "./_worker_init.ts";

/** Polls, executes, heartbeats and shuts down for one `Worker`. */
export class WorkerLoop {
  readonly #init: WorkerInit;
  readonly #rpc: WorkerRpc;
  readonly #leases: Leases;
  readonly #active = new Map<string, Execution>();
  /** Runs a Report brought, waiting for the slots of the runs it ended. */
  #ready: { task: Task; sentAt: Instant }[] = [];
  readonly #stats: WorkerStats = {
    completed: 0,
    failed: 0,
    suspended: 0,
    parked: 0,
    abandoned: 0,
    rpcs: {},
  };
  #deltas = { completed: 0, failed: 0 };
  #stopping = false;
  #pollAbort = new AbortController();
  #slotFreed?: () => void;
  #wakeHeartbeat?: () => void;
  #running?: Promise<void>;
  #stopped?: Promise<void>;
  readonly #link: ServerLink;

  constructor(init: WorkerInit) {
    this.#init = init;
    this.#link = new ServerLink(init.log, init.address, () => this.id);
    this.#leases = new Leases(() => this.#beat(), init.leaseMs);
    this.#rpc = new WorkerRpc(
      init.client,
      init.namespace,
      init.workerId,
      init.leaseMs,
      this.#leases,
      init.streams,
      this.#feed,
    );
    this.#rpc.carries = init.carries;
  }

  /** The slots a Report's ended runs free, for the runs it asks for. */
  readonly #feed: TaskFeed = {
    wanted: (ending) => this.#stopping ? 0 : ending,
    take: (tasks, sentAt) => {
      for (const task of tasks) this.#ready.push({ task, sentAt });
      this.#fill();
    },
  };

  /** Starts the runs Reports brought while slots are free. */
  #fill(): void {
    while (!this.#stopping && this.#ready.length && this.#active.size < this.#init.maxConcurrent) {
      const { task, sentAt } = this.#ready.shift()!;
      this.#start(task, sentAt);
    }
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
    const signals = listenForSignals((name) => void this.shutdown(name));
    const heartbeat = this.#heartbeatLoop();
    try {
      await this.#pollLoop();
      await this.#stopped;
    } finally {
      signals();
      await heartbeat;
    }
  }

  /**
   * Stops polling, waits for in-flight runs (up to the shutdown timeout), releases the rest,
   * deregisters. `why` is logged.
   */
  shutdown(why = "shutdown() called"): Promise<void> {
    this.#stopped ??= this.#shutdown(why);
    return this.#stopped;
  }

  async #shutdown(why: string): Promise<void> {
    this.#stopping = true;
    this.#pollAbort.abort();
    this.#slotFreed?.();
    const log = this.#init.log;
    const fields = { workerId: this.id, reason: why, inFlight: this.#active.size };
    log.info(
      `draining (${why}): polling stopped, waiting up to ${this.#init.shutdownTimeoutMs} ms ` +
        `for ${this.#active.size} run(s) in flight`,
      fields,
    );
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
    // Runs a Report brought that never started go back too: deregistering releases every run
    // leased to the worker.
    const unstarted = this.#ready.splice(0).length;
    const done = { workerId: this.id, released: left.length + unstarted };
    try {
      await this.#init.client.deregister({
        namespace: this.#init.namespace,
        workerId: this.id,
        release: left.map((e) => e.lease),
      }, { timeoutMs: 10_000 });
      log.info(`stopped: deregistered; ${done.released} unfinished run(s) released`, done);
    } catch (err) {
      // The server is away: the leases expire and the runs are picked up again.
      log.warn(
        `stopped without deregistering (${KagziError.from(err).message}); ` +
          `${done.released} unfinished run(s) go to other workers when their leases expire`,
        done,
      );
    }
  }

  async #pollLoop(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      const free = this.#init.maxConcurrent - this.#active.size - this.#ready.length;
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
        failures = 0;
        this.#link.ok();
      } catch (err) {
        if (this.#stopping) return;
        const e = KagziError.from(err);
        if (e.code === "NOT_FOUND" && e.subject === "worker") {
          // The server forgot this worker (its database was reset): register again.
          const old = this.id;
          await this.#init.register().then((r) => {
            this.#rpc.workerId = r.workerId;
            this.#rpc.carries = carriesOf(r);
            this.#init.log.warn(`the server forgot worker ${old}; registered again`, {
              workerId: r.workerId,
              previousWorkerId: old,
            });
          }).catch(() => {});
        } else this.#link.failed("poll", err);
        await sleep(retryDelay(failures++, e)); // ≤ ~1 s, or the server's retryAfter
        continue;
      }
      for (const task of tasks) this.#start(task, sentAt);
    }
  }

  #start(task: Task, sentAt: Instant): void {
    const fn = this.#init.handlers.get(`${task.workflowType}@${task.version}`);
    const exec = new Execution(
      this.#rpc,
      task,
      fn ?? missingHandler(task),
      this.#init.log,
      this.#init.now,
      this.#init.holdSleepsMs,
    );
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
      this.#fill();
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
    let sentAt = now();
    const active = [...this.#active.values()];
    const deltas = this.#deltas;
    this.#deltas = { completed: 0, failed: 0 };
    try {
      // Sent again within one interval while UNAVAILABLE (leases extend from the last send).
      const until = Date.now() + this.#init.heartbeatMs;
      const res = await retryUnavailable(() => {
        this.#count("heartbeat");
        sentAt = now();
        return this.#init.client.heartbeat({
          namespace: this.#init.namespace,
          workerId: this.id,
          activeCount: active.length,
          completedDelta: BigInt(deltas.completed),
          failedDelta: BigInt(deltas.failed),
          leases: active.map((e) => e.lease),
        }, { timeoutMs: this.#init.heartbeatMs * 2 });
      }, { until });
      const cancelled = new Set(res.cancelledRunIds);
      const lost = new Set(res.lostRunIds);
      const expiresIn = protoMs(res.leaseExpiresIn) ?? this.#init.leaseMs;
      for (const e of active) {
        // Ended, or reporting its end, while the heartbeat was in flight: the server holds no
        // lease for a run that ended, which says nothing here (the end's own answer says whether
        // it was stored; an execution reporting its end starts no step).
        if (this.#active.get(e.lease.runId) !== e || e.ending) continue;
        const gone = cancelled.has(e.lease.runId)
          ? "run cancelled"
          : lost.has(e.lease.runId) && "lease lost";
        if (gone) {
          this.#init.log[gone === "lease lost" ? "warn" : "info"](
            `run ${e.lease.runId} ${gone === "lease lost" ? "lost its lease" : "was cancelled"}; ` +
              "its execution stops",
            { workerId: this.id, runId: e.lease.runId },
          );
          this.#leases.drop(e.lease);
          e.release(gone);
        } else this.#leases.extend(e.lease, sentAt, expiresIn);
      }
      if (res.shouldDrain) void this.shutdown("the server asked this worker to drain");
      this.#link.ok();
      return true;
    } catch (err) {
      this.#link.failed("heartbeat", err);
      this.#deltas.completed += deltas.completed;
      this.#deltas.failed += deltas.failed;
      return false;
    }
  }

  #count(name: string): void {
    this.#stats.rpcs[name] = (this.#stats.rpcs[name] ?? 0) + 1;
  }
}
