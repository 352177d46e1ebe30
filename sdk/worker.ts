/**
 * The worker: registers workflow functions, long-polls for runs and executes them durably.
 * `WorkerBuilder` stays beside `Worker` because each constructs the other (`Worker.builder()`,
 * `builder.build()`); apart they would import each other. The poll, heartbeat and shutdown
 * loop is `_worker_loop.ts`.
 */

import { createClient } from "@connectrpc/connect";
import { StreamService, WorkerService } from "@kagzi/proto";
import type { WorkflowFn } from "./context.ts";
import { type AnyWorkflowDefinition, checkTriggers, type EventTrigger } from "./workflow_def.ts";
import { type FlowControlOptions, flowControlToProto } from "./flow_control.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError } from "./errors.ts";
import {
  addressLabel,
  clockOf,
  createTransport,
  type Protocol,
  type ServerAddress,
  wrongEndpoint,
} from "./_transport.ts";
import { checkAttempts, Retry, retryToProto } from "./retry.ts";
import { SDK_VERSION } from "./version.ts";
import { retryUnavailable } from "./_backoff.ts";
import { hostname, pid } from "./_platform.ts";
import { carriesOf } from "./_rpc.ts";
import { WorkerLoop } from "./_worker_loop.ts";
import {
  checkHoldSleeps,
  groupRegistrations,
  protoMs,
  type Registration,
  type WorkerInit,
  type WorkerStats,
} from "./_worker_init.ts";
import { consoleLogger, type Logger, type LogLevel, toLogger } from "./logger.ts";

export type { WorkerStats };

/** Options of {@linkcode WorkerBuilder.workflow}: a version and the type's flow control. */
export interface WorkflowOptions extends FlowControlOptions {
  /** Serve only runs of this version of the type. @default "" (unversioned runs) */
  version?: string;
  /** Events that start a run of the type (see `defineWorkflow`). @default the definition's */
  triggers?: readonly EventTrigger[];
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
  #holdSleepsMs = 1_000;
  #apiKey?: string;
  #protocol?: Protocol;
  #log: Logger | undefined;

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
  /**
   * Default policy of this worker's steps: `n` attempts in all, the first included (`1`: no
   * retry), with exponential backoff, as `Retry.attempts(n)`.
   */
  retries(n: number): this {
    this.#retries = checkAttempts(n, `retries(${n})`, "retries");
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
    // Options given here override the definition's, one by one.
    const own = (k: keyof FlowControlOptions) =>
      options[k] !== undefined ? options : def?.flowControl;
    const flowControl = flowControlToProto(type, {
      concurrency: own("concurrency")?.concurrency,
      rateLimit: own("rateLimit")?.rateLimit,
      debounce: own("debounce")?.debounce,
      priority: own("priority")?.priority,
    });
    const triggers = options.triggers
      ? checkTriggers(`workflow("${type}")`, options.triggers)
      : (def?.triggers ?? []);
    this.#registrations.push({ type, version, fn, flowControl, triggers });
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
  /**
   * Sleeps (and step retries, rate limit waits) that end within `d` of the run waiting for them
   * alone keep the run on this worker (at most 5 s, the server's limit: more is INVALID_ARGUMENT):
   * recorded as every sleep is, then gone on from here when the server says the run is due and
   * still held (not cancelled or paused) — no suspension, claim or replay. The run keeps its slot
   * meanwhile; a worker that dies lets it go, to be resumed elsewhere. `0` suspends every sleep.
   * A server on a test environment's virtual clock suspends them all. @default "1s"
   */
  holdSleeps(d: Duration): this {
    this.#holdSleepsMs = checkHoldSleeps(d);
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
  /**
   * Where the worker logs: a {@linkcode Logger} (yours), a level for the default logger
   * (one line per event on stderr, in the server's shape), or `false` for nothing. Lifecycle
   * (registered, draining, stopped, server reached again) is `info`; a step failed or
   * retried, the server lost, a lease lost is `warn`; a run failed or parked is `error`.
   * @default "info"
   */
  logger(option: Logger | LogLevel | false): this {
    this.#log = toLogger(option);
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
    const streams = createClient(StreamService, transport);
    const retry = this.#retry ??
      (this.#retries === undefined ? undefined : Retry.attempts(this.#retries));
    const { types, triggers } = groupRegistrations(this.#registrations);
    const register = async () => {
      try {
        const until = Date.now() + 10_000; // UNAVAILABLE is retried within the 10 s
        return await retryUnavailable(() =>
          client.register({
            namespace: this.#namespace,
            workflowTypes: [...types.values()].map(({ type, versions, fc }) => ({
              workflowType: type,
              versions: versions.filter((v) => v !== "").length ? versions : [],
              flowControl: fc,
              triggers: [...triggers.get(type)!].map((event) => ({ event })),
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
        const e = wrongEndpoint(err, this.addr, this.#protocol) ?? KagziError.from(err);
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
    const log = this.#log ?? consoleLogger("info");
    const address = addressLabel(this.addr);
    log.info(
      `worker ${res.workerId} registered with ${address}: ` +
        [...types.values()]
          .map(({ type: t, versions: vs }) =>
            vs.filter(Boolean).length ? `${t}@${vs.join(",")}` : t
          )
          .join(", ") +
        ` (namespace "${this.#namespace}", up to ${this.#maxConcurrent} runs)`,
      { workerId: res.workerId, namespace: this.#namespace },
    );
    return new Worker({
      log,
      address,
      client,
      streams,
      register,
      namespace: this.#namespace,
      workerId: res.workerId,
      carries: carriesOf(res),
      heartbeatMs: protoMs(res.heartbeatInterval) ?? 5_000,
      leaseMs: protoMs(res.leaseDuration) ?? 30_000,
      pollTimeoutMs: protoMs(res.pollTimeout) || 30_000,
      maxConcurrent: this.#maxConcurrent,
      shutdownTimeoutMs: this.#shutdownTimeoutMs,
      handlers: new Map(this.#registrations.map((r) => [`${r.type}@${r.version}`, r.fn])),
      now: clockOf(this.addr),
      holdSleepsMs: this.#holdSleepsMs,
    });
  }
}

/**
 * Executes workflow runs: long-polls for them, heartbeats, and on SIGINT/SIGTERM
 * or `shutdown()` stops polling, lets in-flight runs finish (up to the shutdown
 * timeout), releases the rest and deregisters.
 */
export class Worker {
  readonly #loop: WorkerLoop;

  /** @internal */
  constructor(init: WorkerInit) {
    this.#loop = new WorkerLoop(init);
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
    return this.#loop.id;
  }

  /** What this worker did so far. */
  get stats(): WorkerStats {
    return this.#loop.stats;
  }

  /** Polls and executes runs until `shutdown()` or SIGINT/SIGTERM; resolves once drained. */
  run(): Promise<void> {
    return this.#loop.run();
  }

  /** Stops polling, waits for in-flight runs (up to the shutdown timeout), releases the rest, deregisters. */
  shutdown(): Promise<void> {
    return this.#loop.shutdown();
  }
}
