/** The client: start, inspect, list and cancel workflow runs. */
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  AdminService,
  WorkflowScheduleService,
  WorkflowService,
  WorkflowStatus as WireStatus,
} from "@kagzi/proto";
import {
  type Schedule,
  ScheduleCall,
  scheduleFromWire,
  type SchedulePage,
  type SchedulePatch,
} from "./schedules.ts";
import { Call } from "./_call.ts";
import { statusToWire, stepAttemptFromWire, workerFromWire, workflowFromWire } from "./_convert.ts";
import { decodeJson, encodeJson } from "./_payload.ts";
import { createTransport, type Protocol } from "./_transport.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError, WorkflowCancelledError, WorkflowFailedError } from "./errors.ts";
import type {
  Health,
  ServerInfo,
  StepAttemptInfo,
  WorkerSummary,
  Workflow,
  WorkflowPage,
  WorkflowStatus,
} from "./types.ts";

/** Options of {@linkcode Kagzi.connect}. */
export interface ConnectOptions {
  /** Namespace used when a call names none. @default "default" */
  namespace?: string;
  /** Sent as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Connect works everywhere (fetch); "grpc" needs node:http2 (Deno, Node). @default "connect" */
  protocol?: Protocol;
  /** How long `connect` waits for the server to answer. @default "10s" */
  connectTimeout?: Duration;
}

/** Options of {@linkcode Kagzi.listWorkers}. */
export interface ListWorkersOptions {
  /** The namespace to list. @default the client's namespace */
  namespace?: string;
  /** Only workers with this status. @default any status */
  status?: "ONLINE" | "DRAINING" | "OFFLINE";
  /** Only workers serving this workflow type. */
  type?: string;
  /** Workers per page (1-1000). @default 50 */
  pageSize?: number;
  /** Continue after a previous page. @default "" (the first page) */
  pageToken?: string;
}

/** Options of {@linkcode Kagzi.listSchedules}. */
export interface ListSchedulesOptions {
  /** The namespace to list. @default the client's namespace */
  namespace?: string;
  /** Only schedules of this workflow type. */
  type?: string;
  /** Schedules per page (1-1000). @default 50 */
  pageSize?: number;
  /** Continue after a previous page. @default "" (the first page) */
  pageToken?: string;
}

/** Options of {@linkcode Kagzi.getStep}. */
export interface GetStepOptions {
  /** The namespace the run is in. @default the client's namespace */
  namespace?: string;
  /** A function step or a durable sleep. @default "function" */
  kind?: "function" | "sleep";
  /** Which use of the name (from 1). @default 1 */
  occurrence?: number;
}

/** Options of {@linkcode WorkflowRun.result}. */
export interface ResultOptions {
  /** Give up (rejecting with a TIMEOUT KagziError) after this long. @default unlimited */
  timeout?: Duration;
  /** Stops waiting (rejecting with its reason) when aborted. */
  signal?: AbortSignal;
}

/** A started run. */
export interface WorkflowRun<T = unknown> {
  /** The run id. */
  readonly id: string;
  /** The idempotency key it was started with. */
  readonly workflowId: string;
  /** True when a live run with this workflow id existed and was returned instead. */
  readonly alreadyExists: boolean;
  /** Waits for the run to end: its output, or WorkflowFailedError / WorkflowCancelledError. */
  result(options?: ResultOptions): Promise<T>;
}

/** The services a client talks to. */
interface Services {
  workflows: Client<typeof WorkflowService>;
  admin: Client<typeof AdminService>;
  schedules: Client<typeof WorkflowScheduleService>;
}

/** Connects to a Kagzi server. */
export class Kagzi {
  readonly #services: Services;
  /** The namespace used when a call names none. */
  readonly namespace: string;

  private constructor(transport: Transport, namespace: string) {
    this.#services = {
      workflows: createClient(WorkflowService, transport),
      admin: createClient(AdminService, transport),
      schedules: createClient(WorkflowScheduleService, transport),
    };
    this.namespace = namespace;
  }

  /**
   * Connects to the server at `addr` and checks that it answers; rejects with an
   * UNAVAILABLE KagziError naming the address when it does not.
   */
  static async connect(addr: string, options: ConnectOptions = {}): Promise<Kagzi> {
    const transport = await createTransport(addr, options);
    const client = new Kagzi(transport, options.namespace ?? "default");
    const timeoutMs = parseDuration(options.connectTimeout ?? "10s", "connectTimeout");
    try {
      await client.#services.admin.healthCheck({}, { timeoutMs });
    } catch (err) {
      const cause = KagziError.from(err);
      if (cause.code === "UNAUTHORIZED") {
        throw new KagziError(
          "UNAUTHORIZED",
          `The Kagzi server at ${addr} refused the call: ${cause.message}`,
          { subject: "apiKey", nonRetryable: true, cause: err },
        );
      }
      throw new KagziError(
        "UNAVAILABLE",
        `Cannot reach the Kagzi server at ${addr}: ${cause.message}`,
        {
          subject: "addr",
          subjectId: addr,
          cause: err,
        },
      );
    }
    return client;
  }

  /** Starts a run of `type` (awaiting the builder sends the request). */
  start<T = unknown>(type: string): StartCall<T> {
    return new StartCall<T>(this.#services, type, this.namespace);
  }

  /** Reads a run by its run id. */
  get(runId: string): GetCall {
    return new GetCall(this.#services, runId, this.namespace);
  }

  /** Lists runs, newest first: await for one page, or iterate with `for await` over all. */
  list(): ListCall {
    return new ListCall(this.#services, this.namespace);
  }

  /** Cancels a run that has not ended; its running steps see their signal aborted. */
  cancel(runId: string): CancelCall {
    return new CancelCall(this.#services, runId, this.namespace);
  }

  /** Creates (or replaces) the cron schedule `id`; await the builder to send it. */
  schedule(id: string): ScheduleCall {
    return new ScheduleCall(this.#services.schedules, id, this.namespace);
  }

  /** Reads a schedule, with its next and last fire times. */
  async getSchedule(id: string, options: { namespace?: string } = {}): Promise<Schedule> {
    try {
      const res = await this.#services.schedules.getSchedule({
        namespace: options.namespace ?? this.namespace,
        scheduleId: id,
      });
      return scheduleFromWire(res.schedule!);
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** One page of schedules, optionally of one workflow type. */
  async listSchedules(options: ListSchedulesOptions = {}): Promise<SchedulePage> {
    try {
      const res = await this.#services.schedules.listSchedules({
        namespace: options.namespace ?? this.namespace,
        workflowType: options.type ?? "",
        page: { pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "" },
      });
      return {
        schedules: res.schedules.map(scheduleFromWire),
        nextPageToken: res.page?.nextPageToken ?? "",
      };
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** Changes the fields in `patch`; a new cron, time zone or re-enabling fires from now on. */
  async updateSchedule(
    id: string,
    patch: SchedulePatch,
    options: { namespace?: string } = {},
  ): Promise<Schedule> {
    try {
      const res = await this.#services.schedules.updateSchedule({
        namespace: options.namespace ?? this.namespace,
        scheduleId: id,
        workflowType: patch.workflow,
        cron: patch.cron,
        timezone: patch.timezone,
        input: patch.input === undefined ? undefined : encodeJson(patch.input, "input"),
        version: patch.version,
        enabled: patch.enabled,
        maxCatchup: patch.catchup,
      });
      return scheduleFromWire(res.schedule!);
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** Deletes a schedule; the runs it started are kept. */
  async deleteSchedule(id: string, options: { namespace?: string } = {}): Promise<void> {
    try {
      await this.#services.schedules.deleteSchedule({
        namespace: options.namespace ?? this.namespace,
        scheduleId: id,
      });
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** The server's health, including its database. */
  async health(): Promise<Health> {
    try {
      const res = await this.#services.admin.healthCheck({});
      return { healthy: res.healthy, databaseOk: res.databaseOk, message: res.message };
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** The server's version, API version, features and default versions. */
  async serverInfo(options: { namespace?: string } = {}): Promise<ServerInfo> {
    try {
      const res = await this.#services.admin.getServerInfo({
        namespace: options.namespace ?? this.namespace,
      });
      return {
        version: res.version,
        apiVersion: res.apiVersion,
        features: res.features,
        database: res.database,
        defaultVersions: Object.fromEntries(
          res.defaultVersions.map((d) => [d.workflowType, d.version]),
        ),
      };
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** Workers of a namespace (one page), with health derived from their heartbeats. */
  async listWorkers(
    options: ListWorkersOptions = {},
  ): Promise<{ workers: WorkerSummary[]; nextPageToken: string }> {
    const statuses = { ONLINE: 1, DRAINING: 2, OFFLINE: 3 } as const;
    try {
      const res = await this.#services.admin.listWorkers({
        namespace: options.namespace ?? this.namespace,
        status: options.status === undefined ? undefined : statuses[options.status],
        workflowType: options.type ?? "",
        page: { pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "" },
      });
      return {
        workers: res.workers.map(workerFromWire),
        nextPageToken: res.page?.nextPageToken ?? "",
      };
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** One worker by id. */
  async getWorker(workerId: string, options: { namespace?: string } = {}): Promise<WorkerSummary> {
    try {
      const res = await this.#services.admin.getWorker({
        namespace: options.namespace ?? this.namespace,
        workerId,
      });
      return workerFromWire(res.worker!);
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** Asks a worker to drain: it stops polling, finishes or releases its runs and deregisters. */
  async drainWorker(
    workerId: string,
    options: { namespace?: string } = {},
  ): Promise<WorkerSummary> {
    try {
      const res = await this.#services.admin.drainWorker({
        namespace: options.namespace ?? this.namespace,
        workerId,
      });
      return workerFromWire(res.worker!);
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** Every attempt of every step of a run, in the order they started. */
  async listSteps(runId: string, options: { namespace?: string } = {}): Promise<StepAttemptInfo[]> {
    const out: StepAttemptInfo[] = [];
    let pageToken = "";
    try {
      do {
        const res = await this.#services.admin.listSteps({
          namespace: options.namespace ?? this.namespace,
          runId,
          page: { pageToken },
        });
        out.push(...res.attempts.map(stepAttemptFromWire));
        pageToken = res.page?.nextPageToken ?? "";
      } while (pageToken);
    } catch (err) {
      throw KagziError.from(err);
    }
    return out;
  }

  /** Every attempt of one step of a run. */
  async getStep(
    runId: string,
    name: string,
    options: GetStepOptions = {},
  ): Promise<StepAttemptInfo[]> {
    try {
      const res = await this.#services.admin.getStep({
        namespace: options.namespace ?? this.namespace,
        runId,
        step: { kind: options.kind === "sleep" ? 2 : 1, name, occurrence: options.occurrence ?? 1 },
      });
      return res.attempts.map(stepAttemptFromWire);
    } catch (err) {
      throw KagziError.from(err);
    }
  }

  /** Makes `version` the one new runs of `type` get when they name none. */
  async setDefaultVersion(
    type: string,
    version: string,
    options: { namespace?: string } = {},
  ): Promise<void> {
    try {
      await this.#services.admin.setDefaultVersion({
        namespace: options.namespace ?? this.namespace,
        workflowType: type,
        version,
      });
    } catch (err) {
      throw KagziError.from(err);
    }
  }
}

/** Builder of a StartWorkflow request; await it for a {@linkcode WorkflowRun}. */
export class StartCall<T = unknown> extends Call<WorkflowRun<T>> {
  #input: unknown;
  #id = "";
  #version = "";
  #deadline?: Date;
  #context: unknown;

  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly type: string,
    namespace: string,
  ) {
    super(namespace);
  }

  /** The input handed to the workflow function (JSON-serializable). */
  input(value: unknown): this {
    this.#input = value;
    return this;
  }
  /** The idempotency key: starting the same id again returns the live run. */
  id(workflowId: string): this {
    this.#id = workflowId;
    return this;
  }
  /** The version of the workflow type to run. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** The run fails with TIMEOUT if it has not ended by then. */
  deadline(at: Date): this {
    this.#deadline = at;
    return this;
  }
  /** Extra JSON-serializable context stored with the run. */
  context(value: unknown): this {
    this.#context = value;
    return this;
  }

  /** Sends the request. */
  protected async execute(): Promise<WorkflowRun<T>> {
    const res = await this.services.workflows.startWorkflow({
      namespace: this.ns,
      workflowType: this.type,
      workflowId: this.#id,
      version: this.#version,
      input: encodeJson(this.#input, "input"),
      context: this.#context === undefined ? undefined : encodeJson(this.#context, "context"),
      deadlineAt: this.#deadline ? timestampFromDate(this.#deadline) : undefined,
    });
    return makeRun<T>(this.services, this.ns, res.runId, res.workflowId, res.alreadyExists);
  }
}

function makeRun<T>(
  services: Services,
  namespace: string,
  id: string,
  workflowId: string,
  alreadyExists: boolean,
): WorkflowRun<T> {
  return {
    id,
    workflowId,
    alreadyExists,
    async result(options: ResultOptions = {}): Promise<T> {
      const limit = options.timeout === undefined
        ? Infinity
        : parseDuration(options.timeout, "timeout");
      const until = Date.now() + limit;
      for (;;) {
        options.signal?.throwIfAborted();
        const left = until - Date.now();
        if (left <= 0) {
          throw new KagziError("TIMEOUT", `Workflow run ${id} did not end within ${limit} ms`, {
            subject: "run",
            subjectId: id,
          });
        }
        let res;
        try {
          res = await services.workflows.getWorkflow({
            namespace,
            runId: id,
            waitForTerminal: durationFromMs(Math.min(left, 30_000)),
          }, { signal: options.signal, timeoutMs: Math.min(left, 30_000) + 10_000 });
        } catch (err) {
          const e = KagziError.from(err);
          // A restarting server (or a wait cut short) is not the run's end: ask again.
          if ((e.code === "UNAVAILABLE" || e.code === "TIMEOUT") && !options.signal?.aborted) {
            await new Promise((r) => setTimeout(r, Math.min(1_000, Math.max(0, left))));
            continue;
          }
          throw e;
        }
        const w = res.workflow!;
        switch (w.status) {
          case WireStatus.COMPLETED:
            return decodeJson(w.output, "output") as T;
          case WireStatus.FAILED:
            throw new WorkflowFailedError(id, w.error!);
          case WireStatus.CANCELLED:
            throw new WorkflowCancelledError(
              id,
              w.error?.message.replace(/^Cancelled:? ?/, "") ?? "",
            );
        }
      }
    },
  };
}

/** Builder of a GetWorkflow request. */
export class GetCall extends Call<Workflow> {
  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly runId: string,
    namespace: string,
  ) {
    super(namespace);
  }
  /** Sends the request. */
  protected async execute(): Promise<Workflow> {
    const res = await this.services.workflows.getWorkflow({
      namespace: this.ns,
      runId: this.runId,
    });
    return workflowFromWire(res.workflow!);
  }
}

/** Builder of a CancelWorkflow request; resolves with the run as it is after cancelling. */
export class CancelCall extends Call<Workflow> {
  #reason = "";
  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly runId: string,
    namespace: string,
  ) {
    super(namespace);
  }
  /** Why; stored with the run. */
  reason(text: string): this {
    this.#reason = text;
    return this;
  }
  /** Sends the request. */
  protected async execute(): Promise<Workflow> {
    const res = await this.services.workflows.cancelWorkflow({
      namespace: this.ns,
      runId: this.runId,
      reason: this.#reason,
    });
    return workflowFromWire(res.workflow!);
  }
}

/** Builder of a ListWorkflows request: one page when awaited, every run when iterated. */
export class ListCall extends Call<WorkflowPage> implements AsyncIterable<Workflow> {
  #status?: WorkflowStatus;
  #type = "";
  #workflowId = "";
  #scheduleId = "";
  #version = "";
  #pageSize = 0;
  #pageToken = "";
  #total = false;
  /** @internal */
  constructor(private readonly services: Services, namespace: string) {
    super(namespace);
  }
  /** Only runs with this status. */
  status(s: WorkflowStatus): this {
    this.#status = s;
    return this;
  }
  /** Only runs of this workflow type. */
  type(t: string): this {
    this.#type = t;
    return this;
  }
  /** Only runs with this workflow id. */
  workflowId(id: string): this {
    this.#workflowId = id;
    return this;
  }
  /** Only runs a schedule started. */
  scheduleId(id: string): this {
    this.#scheduleId = id;
    return this;
  }
  /** Only runs pinned to this version. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** Runs per page (1-1000). @default 50 */
  pageSize(n: number): this {
    this.#pageSize = n;
    return this;
  }
  /** Continue after a previous page. */
  pageToken(token: string): this {
    this.#pageToken = token;
    return this;
  }
  /** Also count all matching runs. */
  withTotal(): this {
    this.#total = true;
    return this;
  }

  async #page(token: string): Promise<WorkflowPage> {
    const res = await this.services.workflows.listWorkflows({
      namespace: this.ns,
      status: this.#status === undefined ? undefined : statusToWire(this.#status),
      workflowType: this.#type,
      workflowId: this.#workflowId,
      scheduleId: this.#scheduleId,
      version: this.#version,
      page: { pageSize: this.#pageSize, pageToken: token, includeTotalCount: this.#total },
    });
    return {
      workflows: res.workflows.map(workflowFromWire),
      nextPageToken: res.page?.nextPageToken ?? "",
      totalCount: res.page?.totalCount === undefined ? undefined : Number(res.page.totalCount),
    };
  }

  /** Sends the request for the current page. */
  protected execute(): Promise<WorkflowPage> {
    return this.#page(this.#pageToken);
  }

  /** Every matching run, page by page. */
  async *[Symbol.asyncIterator](): AsyncIterator<Workflow> {
    let token = this.#pageToken;
    do {
      let page;
      try {
        page = await this.#page(token);
      } catch (err) {
        throw KagziError.from(err);
      }
      yield* page.workflows;
      token = page.nextPageToken;
    } while (token);
  }
}
