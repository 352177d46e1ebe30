/**
 * The calls a worker makes about the runs it holds: retried while the server is away, and the
 * completions of all runs made at the same moment sent together in one Report (a
 * `MicroBatcher`, the same queue as the server's group commit).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Client } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  AppendStreamRequestSchema,
  AppendStreamResponse,
  ErrorDetail,
  ReportItem,
  ReportResult,
  StreamService,
  Task,
  WorkerService,
} from "@kagzi/proto";
import { KagziError } from "./errors.ts";
import { retryDelay, sleep } from "./_backoff.ts";
import { type Instant, type Leases, now } from "./_lease.ts";
import { ItemError, MicroBatcher } from "./batcher.ts";

type Rpc = Client<typeof WorkerService>;
/** The calls a worker makes about a run it holds. */
export type RunMethod =
  | "beginStep"
  | "completeStep"
  | "failStep"
  | "sleep"
  | "completeWorkflow"
  | "failWorkflow"
  | "receiveSignal"
  | "startChild"
  | "parkWorkflow"
  | "createToken"
  | "awaitAny";
/** The request of a held-run call, without the fields the worker fills in. */
export type Req<M extends RunMethod> = Omit<
  NonNullable<Parameters<Rpc[M]>[0]>,
  "namespace" | "workerId"
>;
/** The response of a held-run call. */
export type Res<M extends RunMethod> = Awaited<ReturnType<Rpc[M]>>;

/** Calls sent together in one Report: the hot path of every run. */
type Reported = "completeStep" | "completeWorkflow";
const reported = new Set<RunMethod>(["completeStep", "completeWorkflow"]);

/** The largest Report the server accepts. */
const maxReportItems = 1000;
/** Reports in flight at once: one is sent while the server commits the previous one. */
const maxReportsInFlight = 2;

interface Pending {
  method: Reported;
  req: Req<Reported>;
}

/**
 * Where runs a Report asks for come from and go to: the worker's slots. A Report that ends runs
 * asks for as many runs as `wanted` allows (the slots those runs free); `take` receives what the
 * server claimed, before the ended runs' calls resolve.
 */
export interface TaskFeed {
  /** How many runs to ask for when a Report ends `ending` runs (0 while shutting down). */
  wanted(ending: number): number;
  /** Runs the server claimed for this worker, leased from `sentAt`. */
  take(tasks: Task[], sentAt: Instant): void;
}

/**
 * What the server stores of a call that carries it (it says so at Register): the step outputs
 * of a CompleteWorkflow and of a Sleep, the causes of a failed step's error. Otherwise no
 * output is held back for that call (see `_deferred_outputs.ts`) and no cause is sent: an older
 * server would ignore them.
 */
export interface Carries {
  stepsWithCompletion: boolean;
  stepsWithSleep: boolean;
  /** The server stores a failed step's error causes (RegisterResponse `error_causes`). */
  errorCauses: boolean;
}

/** The {@linkcode Carries} of a RegisterResponse. */
export function carriesOf(r: Carries): Carries {
  return {
    stepsWithCompletion: r.stepsWithCompletion,
    stepsWithSleep: r.stepsWithSleep,
    errorCauses: r.errorCauses,
  };
}

/** The calls a worker makes about a run it holds, with retries while the server is away. */
export class WorkerRpc {
  /** Network calls made, by method, for tests and benchmarks. */
  readonly counts: Record<string, number> = {};
  /** Completions made at the same moment, sent together in one Report. */
  readonly #reports = new MicroBatcher<Pending, unknown>((batch) => this.#send(batch), {
    maxBatch: maxReportItems,
    maxInFlight: maxReportsInFlight,
    // A failed Report fails its calls; `call` retries each while the server is away.
    splitFailedBatch: false,
  });
  /** False once the server answered that it has no Report (an older server). */
  #reportSupported = true;
  /** What the server said at Register it stores with a completion, a suspension, a failed step. */
  carries: Carries = { stepsWithCompletion: false, stepsWithSleep: false, errorCauses: false };

  constructor(
    readonly client: Rpc,
    readonly namespace: string,
    public workerId: string,
    private readonly maxRetryMs: number,
    /** The worker's lease deadlines: an execution starts no step without holding its lease. */
    readonly leases: Leases,
    /** The client of stream writes (`ctx.stream`). */
    readonly streams: Client<typeof StreamService>,
    /** The worker's slots, for the runs a Report asks for; none: Reports ask for none. */
    private readonly feed?: TaskFeed,
  ) {}

  /**
   * Calls `method` for a held run. Resolves undefined when the server refused
   * it because the lease is gone (cancelled, taken over or finished); retries
   * UNAVAILABLE with backoff for up to `maxRetryMs`. Step and workflow
   * completions of all runs made at the same moment travel in one Report.
   */
  call<M extends RunMethod>(method: M, req: Req<M>): Promise<Res<M> | undefined> {
    return this.#retrying(() =>
      reported.has(method) && this.#reportSupported
        ? this.#reports.add({ method, req } as Pending) as Promise<Res<M>>
        : this.#single(method, req)
    );
  }

  /** AppendStream for a held run, retried and refused like {@linkcode WorkerRpc.call}. */
  appendStream(
    req: Omit<
      MessageInitShape<typeof AppendStreamRequestSchema>,
      "namespace" | "workerId" | "$typeName"
    >,
  ): Promise<AppendStreamResponse | undefined> {
    return this.#retrying(() => {
      this.#count("appendStream");
      return this.streams.appendStream({
        ...req,
        namespace: this.namespace,
        workerId: this.workerId,
      });
    });
  }

  async #retrying<R>(send: () => Promise<R>): Promise<R | undefined> {
    const until = Date.now() + this.maxRetryMs;
    for (let attempt = 0;; attempt++) {
      try {
        return await send();
      } catch (err) {
        const e = KagziError.from(err);
        if (e.code === "PRECONDITION_FAILED" || e.code === "NOT_FOUND") return undefined;
        const delay = retryDelay(attempt, e);
        if (e.code !== "UNAVAILABLE" || Date.now() + delay > until) throw e;
        await sleep(delay);
      }
    }
  }

  #single<M extends RunMethod>(method: M, req: Req<M>): Promise<Res<M>> {
    this.#count(method);
    const fn = this.client[method] as (r: unknown) => Promise<Res<M>>;
    return fn.call(this.client, { ...req, namespace: this.namespace, workerId: this.workerId });
  }

  async #send(batch: Pending[]): Promise<unknown[]> {
    const ending = batch.filter((p) => p.method === "completeWorkflow").length;
    const maxTasks = this.#reportSupported && ending ? this.feed?.wanted(ending) ?? 0 : 0;
    if ((batch.length === 1 && maxTasks === 0) || !this.#reportSupported) {
      // Alone, the single call is the same round trip with a smaller message.
      return await Promise.all(
        batch.map((p) => this.#single(p.method, p.req).catch((err) => new ItemError(err))),
      );
    }
    let results: ReportResult[];
    try {
      this.#count("report");
      const sentAt = now();
      const res = await this.client.report({
        namespace: this.namespace,
        workerId: this.workerId,
        items: batch.map((p): Omit<ReportItem, "$typeName"> => ({
          item: { case: p.method, value: p.req } as ReportItem["item"],
        })),
        maxTasks,
      });
      // Handed over before the ended runs' calls resolve and free their slots: the slots go to
      // these runs, not to a poll.
      if (res.tasks.length) this.feed?.take(res.tasks, sentAt);
      results = res.results;
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
        this.#reportSupported = false;
        return this.#send(batch);
      }
      throw err;
    }
    return batch.map((p, i) => {
      const r = results[i]?.result;
      if (r?.case === "error") return new ItemError(KagziError.fromDetail(unprefixed(r.value, i)));
      if (r?.case === p.method) return r.value;
      return new ItemError(
        new KagziError("INTERNAL", `The server answered item ${i} of a report wrongly`),
      );
    });
  }

  #count(name: string): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
  }
}

/**
 * An item's error as its single call would have answered it: the server names a bad field
 * within the Report (`items[0].complete_workflow.output.data`), which means nothing to the
 * workflow whose output it was.
 */
function unprefixed(detail: ErrorDetail, i: number): ErrorDetail {
  const item = /^items\[(\d+)\]\.(complete_step|complete_workflow)/.exec(detail.subject);
  if (!item || Number(item[1]) !== i) return detail;
  const prefix = item[0];
  return {
    ...detail,
    subject: detail.subject.slice(prefix.length).replace(/^\./, ""),
    message: detail.message.startsWith(`${prefix}: `)
      ? detail.message.slice(prefix.length + 2)
      : detail.message,
  };
}
