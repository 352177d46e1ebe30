/** The worker: registers workflow functions, long-polls for runs and executes them durably. */

import { type Client, createClient } from "@connectrpc/connect";
import { type Task, WorkerService } from "@kagzi/proto";
import type { WorkflowFn } from "./context.ts";
import type { AnyWorkflowDefinition } from "./workflow_def.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError } from "./errors.ts";
import { addressLabel, createTransport, type Protocol, type ServerAddress } from "./_transport.ts";
import { Execution } from "./_replay.ts";
import { WorkerRpc } from "./_rpc.ts";
import { retryDelay, retryUnavailable, sleep } from "./_backoff.ts";
import { type Instant, Leases, now } from "./_lease.ts";
import { Retry, retryToProto } from "./retry.ts";
import { SDK_VERSION } from "./version.ts";

/** Options of {@linkcode WorkerBuilder.workflow}. */
export interface WorkflowOptions {
  /** Serve only runs of this version of the type. @default "" (unversioned runs) */
  version?: string;
}

interface Registration {
  type: string;
  version: string;
  fn: WorkflowFn;
}

/** Builds a {@linkcode Worker}; `build()` registers it with the server. */
export class WorkerBuilder {
  #namespace = "default";
  #maxConcurrent = 100;
  #retry?: Retry;
  #retries?: number;
  #registrations: Registration[] = [];
  #hostname = "";
  #version = "";
  #labels: Record<string, string> = {};
  #shutdownTimeoutMs = 30_000;
  #apiKey?: string;
  #protocol?: Protocol;

  /** @internal */
  constructor(private readonly addr: ServerAddress) {}

  /** The tenant. @default "default" */
  namespace(ns: string): this {
    this.#namespace = ns;
    return this;
  }
  /** Most runs executing at once. @default 100 */
  maxConcurrent(n: number): this {
    if (!Number.isInteger(n) || n < 1 || n > 10_000) {
      throw new KagziError(
        "INVALID_ARGUMENT",
        `Invalid maxConcurrent ${n}: use a whole number from 1 to 10000`,
        {
          subject: "maxConcurrent",
          nonRetryable: true,
        },
      );
    }
    this.#maxConcurrent = n;
    return this;
  }
  /** Default policy of this worker's steps: `n` attempts with exponential backoff. */
  retries(n: number): this {
    this.#retries = n;
    return this;
  }
  /** Default retry policy of this worker's steps. */
  retry(policy: Retry): this {
    this.#retry = policy;
    return this;
  }
  /**
   * Registers workflow functions (unversioned): a map of type to function, or a list of
   * `defineWorkflow(...)` definitions.
   */
  workflows(workflows: Record<string, WorkflowFn> | readonly AnyWorkflowDefinition[]): this {
    if (Array.isArray(workflows)) {
      for (const def of workflows as readonly AnyWorkflowDefinition[]) this.workflow(def);
      return this;
    }
    for (const [type, fn] of Object.entries(workflows)) this.workflow(type, fn);
    return this;
  }
  /** Registers one workflow definition, optionally for one version of its type. */
  workflow(definition: AnyWorkflowDefinition, options?: WorkflowOptions): this;
  /** Registers one workflow function, optionally for one version of its type. */
  workflow(type: string, fn: WorkflowFn, options?: WorkflowOptions): this;
  workflow(
    a: string | AnyWorkflowDefinition,
    b?: WorkflowFn | WorkflowOptions,
    c: WorkflowOptions = {},
  ): this {
    const def = typeof a === "string" ? undefined : a;
    const type = def ? def.type : a as string;
    const fn = (def ? def.fn : b) as WorkflowFn;
    const options = (def ? b as WorkflowOptions | undefined : c) ?? {};
    if (typeof fn !== "function") {
      throw new KagziError(
        "INVALID_ARGUMENT",
        `Workflow "${type}" must be a function (ctx, input) => Promise`,
        {
          subject: "workflows",
          nonRetryable: true,
        },
      );
    }
    const version = options.version ?? "";
    if (this.#registrations.some((r) => r.type === type && r.version === version)) {
      throw new KagziError(
        "INVALID_ARGUMENT",
        `Workflow "${type}"${version ? ` version "${version}"` : ""} is registered twice`,
        {
          subject: "workflows",
          nonRetryable: true,
        },
      );
    }
    this.#registrations.push({ type, version, fn });
    return this;
  }
  /** Shown in worker listings. */
  hostname(h: string): this {
    this.#hostname = h;
    return this;
  }
  /** The application's version, shown in worker listings. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** A label shown in worker listings. */
  label(key: string, value: string): this {
    this.#labels[key] = value;
    return this;
  }
  /** How long shutdown waits for in-flight runs before releasing them. @default "30s" */
  shutdownTimeout(d: Duration): this {
    this.#shutdownTimeoutMs = parseDuration(d, "shutdownTimeout");
    return this;
  }
  /** Sent as `authorization: Bearer <key>`. */
  apiKey(key: string): this {
    this.#apiKey = key;
    return this;
  }
  /** Wire protocol. @default "connect" */
  protocol(p: Protocol): this {
    this.#protocol = p;
    return this;
  }

  /** Registers with the server; rejects when nothing is registered or the server is unreachable. */
  async build(): Promise<Worker> {
    if (this.#registrations.length === 0) {
      throw new KagziError(
        "INVALID_ARGUMENT",
        "Cannot build a worker: no workflow is registered; call .workflows({ ... }) or .workflow(type, fn)",
        {
          subject: "workflows",
          nonRetryable: true,
        },
      );
    }
    const transport = await createTransport(this.addr, {
      apiKey: this.#apiKey,
      protocol: this.#protocol,
    });
    const client = createClient(WorkerService, transport);
    const retry = this.#retry ??
      (this.#retries === undefined ? undefined : Retry.attempts(this.#retries));
    const types = new Map<string, string[]>();
    for (const r of this.#registrations) {
      types.set(r.type, [...(types.get(r.type) ?? []), r.version]);
    }
    const register = async () => {
      try {
        const until = Date.now() + 10_000; // UNAVAILABLE is retried within the 10 s
        return await retryUnavailable(() =>
          client.register({
            namespace: this.#namespace,
            workflowTypes: [...types].map(([workflowType, versions]) => ({
              workflowType,
              versions: versions.filter((v) => v !== "").length ? versions : [],
            })),
            hostname: this.#hostname || hostname(),
            pid: pid(),
            sdkVersion: SDK_VERSION,
            version: this.#version,
            labels: this.#labels,
            maxConcurrent: this.#maxConcurrent,
            defaultRetryPolicy: retry && retryToProto(retry),
          }, { timeoutMs: Math.max(1, until - Date.now()) }), { until });
      } catch (err) {
        const e = KagziError.from(err);
        if (e.code === "UNAVAILABLE" || e.code === "TIMEOUT") {
          throw new KagziError(
            "UNAVAILABLE",
            `Cannot reach the Kagzi server at ${addressLabel(this.addr)}: ${e.message}`,
            {
              subject: "addr",
              subjectId: addressLabel(this.addr),
              cause: err,
            },
          );
        }
        throw e;
      }
    };
    const res = await register();
    return new Worker({
      client,
      register,
      namespace: this.#namespace,
      workerId: res.workerId,
      heartbeatMs: ms(res.heartbeatInterval) ?? 5_000,
      leaseMs: ms(res.leaseDuration) ?? 30_000,
      pollTimeoutMs: ms(res.pollTimeout) || 30_000,
      maxConcurrent: this.#maxConcurrent,
      shutdownTimeoutMs: this.#shutdownTimeoutMs,
      handlers: new Map(this.#registrations.map((r) => [`${r.type}@${r.version}`, r.fn])),
    });
  }
}

interface WorkerInit {
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

/**
 * Executes workflow runs: long-polls for them, heartbeats, and on SIGINT/SIGTERM
 * or `shutdown()` stops polling, lets in-flight runs finish (up to the shutdown
 * timeout), releases the rest and deregisters.
 */
export class Worker {
  readonly #init: WorkerInit;
  readonly #rpc: WorkerRpc;
  readonly #leases: Leases;
  readonly #active = new Map<string, Execution>();
  readonly #stats: WorkerStats = { completed: 0, failed: 0, suspended: 0, abandoned: 0, rpcs: {} };
  #deltas = { completed: 0, failed: 0 };
  #stopping = false;
  #pollAbort = new AbortController();
  #slotFreed?: () => void;
  #running?: Promise<void>;
  #stopped?: Promise<void>;

  /** @internal */
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

  /**
   * Starts a worker builder for the server at `addr`: a URL, or a server created in this
   * process (`createServer()`), which the worker then calls with no network hop.
   */
  static builder(addr: ServerAddress): WorkerBuilder {
    return new WorkerBuilder(addr);
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
    let failures = 0;
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
        failures = 0;
      } catch (err) {
        if (this.#stopping) return;
        const e = KagziError.from(err);
        if (e.code === "NOT_FOUND" && e.subject === "worker") {
          // The server forgot this worker (its database was reset): register again.
          await this.#init.register().then((r) => (this.#rpc.workerId = r.workerId)).catch(
            () => {},
          );
        }
        await sleep(retryDelay(failures++, e)); // ≤ ~1 s, or the server's retryAfter
        continue;
      }
      for (const task of tasks) this.#start(task, sentAt);
    }
  }

  #start(task: Task, sentAt: Instant): void {
    const fn = this.#init.handlers.get(`${task.workflowType}@${task.version}`);
    const exec = new Execution(this.#rpc, task, fn ?? missingHandler(task));
    // Claimed again (an older lease of ours was recovered): the older execution lost it.
    this.#active.get(task.runId)?.release("run claimed again");
    this.#active.set(task.runId, exec);
    this.#leases.set(exec.lease, sentAt, ms(task.leaseExpiresIn) ?? this.#init.leaseMs);
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
      await new Promise((r) => setTimeout(r, this.#stopping ? 50 : this.#init.heartbeatMs));
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
      const expiresIn = ms(res.leaseExpiresIn) ?? this.#init.leaseMs;
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

const ms = (d: { seconds: bigint; nanos: number } | undefined) =>
  d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : undefined;

function hostname(): string {
  try {
    // deno-lint-ignore no-explicit-any
    return (globalThis as any).Deno?.hostname?.() ?? "";
  } catch {
    return "";
  }
}

function pid(): number {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  return g.Deno?.pid ?? g.process?.pid ?? 0;
}

function listenForSignals(onSignal: () => void): () => void {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const names = ["SIGINT", "SIGTERM"];
  if (g.Deno?.addSignalListener) {
    for (const s of names) g.Deno.addSignalListener(s, onSignal);
    return () => {
      for (const s of names) g.Deno.removeSignalListener(s, onSignal);
    };
  }
  if (g.process?.on) {
    for (const s of names) g.process.on(s, onSignal);
    return () => {
      for (const s of names) g.process.off(s, onSignal);
    };
  }
  return () => {};
}
