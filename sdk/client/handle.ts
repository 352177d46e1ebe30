/**
 * Handles of runs: attach to any run knowing only its run id or its workflow id, and read it,
 * await its result (a server-side wait, passing faults retried), signal, cancel or list its steps.
 */
import { WorkflowStatus as WireStatus } from "@kagzi/proto";
import { workflowFromWire } from "../_convert.ts";
import { decodeJson } from "../_payload.ts";
import { type Duration, parseDuration } from "../duration.ts";
import {
  cancelReason,
  KagziError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "../errors.ts";
import type { StepAttemptInfo, Workflow } from "../types.ts";
import { listSteps } from "./admin.ts";
import { rpc, type Services } from "./_services.ts";
import { resultWaits } from "./_result_waits.ts";
import {
  listSignals,
  type ListSignalsOptions,
  sendSignal,
  type SignalInfo,
  type SignalOptions,
  type SignalSent,
} from "./signals.ts";
import {
  followStream,
  latestValue,
  listStreams,
  type StreamInfo,
  type StreamReadOptions,
  type StreamValue,
} from "./streams.ts";

/** Options of {@linkcode RunHandle.result}. */
export interface ResultOptions {
  /**
   * How long to wait for the run to end; then a run found still open rejects with a TIMEOUT
   * KagziError. A run that has already ended gives its outcome whatever this is (`0` included).
   * @default unlimited
   */
  timeout?: Duration;
  /** Stops waiting (rejecting with its reason) when aborted. */
  signal?: AbortSignal;
}

/** Options of {@linkcode RunHandle.cancel}. */
export interface CancelOptions {
  /** Why; stored with the run. @default "" */
  reason?: string;
}

/** What `client.handle()` attaches to: a run id, or the newest run of a workflow id. */
export type RunRef = string | { workflowId: string };

/**
 * A run, by its run id or by its workflow id (then every call acts on the newest run under
 * that id, looked up when the call is made; `result()` looks once and waits for that run).
 */
export interface RunHandle<T = unknown> {
  /** The run id; undefined for a handle made from a workflow id. */
  readonly id: string | undefined;
  /** The workflow id; undefined for a handle made from a run id. */
  readonly workflowId: string | undefined;
  /** The run as it is now (as `client.get()`). */
  get(): Promise<Workflow>;
  /**
   * Waits for the run to end (long-polling the server, in calls all pending waits of this client
   * share; an outage, restart or passing fault is waited out): its output, or
   * WorkflowFailedError / WorkflowCancelledError.
   */
  result(options?: ResultOptions): Promise<T>;
  /** Sends the run signal `name`; resolves once it is durably stored. */
  signal(name: string, payload?: unknown, options?: SignalOptions): Promise<SignalSent>;
  /** The run's signals, pending and consumed, oldest first. */
  listSignals(options?: ListSignalsOptions): Promise<SignalInfo[]>;
  /** Cancels the run; resolves with the run as it is after cancelling. */
  cancel(options?: CancelOptions): Promise<Workflow>;
  /** Every attempt of every step of the run, in the order they started (as `client.listSteps()`). */
  steps(): Promise<StepAttemptInfo[]>;
  /**
   * Follows the run's stream `name` live (written by `ctx.stream(name)`) from `options.from`
   * (default 0): `{ offset, value }` in order, each once; the iteration ends when the stream is
   * closed or the run ended. A dropped connection is resumed from the next offset.
   */
  stream<V = unknown>(name: string, options?: StreamReadOptions): AsyncIterable<StreamValue<V>>;
  /** The last value written to the run's stream `name`; undefined when none was. */
  latest<V = unknown>(name: string): Promise<V | undefined>;
  /** The run's streams: name, values written, whether closed. */
  streams(): Promise<StreamInfo[]>;
}

/** The handle of `ref` in `namespace`. */
export function makeHandle<T>(services: Services, namespace: string, ref: RunRef): RunHandle<T> {
  const byRun = typeof ref === "string";
  const runId = async (): Promise<string> => {
    if (byRun) return ref;
    return await newestRun(services, namespace, ref.workflowId);
  };
  return {
    id: byRun ? ref : undefined,
    workflowId: byRun ? undefined : ref.workflowId,
    get: async () => {
      const id = await runId();
      return await rpc(async () =>
        workflowFromWire((await services.workflows.getWorkflow({ namespace, runId: id })).workflow!)
      );
    },
    result: async (options = {}) => waitForResult<T>(services, namespace, await runId(), options),
    signal: async (name, payload, options = {}) =>
      sendSignal(services, namespace, await runId(), name, payload, options),
    listSignals: async (options = {}) => listSignals(services, namespace, await runId(), options),
    cancel: async (options = {}) => {
      const id = await runId();
      return await rpc(async () => {
        const res = await services.workflows.cancelWorkflow({
          namespace,
          runId: id,
          reason: options.reason ?? "",
        });
        return workflowFromWire(res.workflow!);
      });
    },
    steps: async () => listSteps(services, namespace, await runId()),
    stream: <V>(name: string, options?: StreamReadOptions) => ({
      async *[Symbol.asyncIterator]() {
        yield* followStream<V>(services, namespace, await runId(), name, options);
      },
    }),
    latest: async <V>(name: string) => latestValue<V>(services, namespace, await runId(), name),
    streams: async () => listStreams(services, namespace, await runId()),
  };
}

/** The id of the newest run under `workflowId`; NOT_FOUND naming it when there is none. */
async function newestRun(services: Services, namespace: string, workflowId: string) {
  if (workflowId === "") {
    throw new KagziError("INVALID_ARGUMENT", `Cannot attach to a run: "workflowId" is empty`, {
      subject: "workflowId",
      nonRetryable: true,
    });
  }
  const found = await rpc(() =>
    services.workflows.listWorkflows({ namespace, workflowId, page: { pageSize: 1 } })
  );
  const w = found.workflows[0];
  if (!w) {
    throw new KagziError(
      "NOT_FOUND",
      `No run with workflow id "${workflowId}" in namespace "${namespace}"`,
      { subject: "workflowId", subjectId: workflowId, nonRetryable: true },
    );
  }
  return w.runId;
}

/**
 * Waits until the run ends, in the WaitRuns calls this client's result waits share. Anything
 * else in between (the server or its database away, an internal error, a wait cut short) is
 * waited out with backoff: the call settles only with the run's outcome, its own timeout or
 * abort, or a permanent error about the call itself (an unknown run, a refused key).
 */
export async function waitForResult<T>(
  services: Services,
  namespace: string,
  id: string,
  options: ResultOptions,
): Promise<T> {
  const limit = options.timeout === undefined
    ? Infinity
    : parseDuration(options.timeout, "timeout");
  const w = await resultWaits(services).wait(namespace, id, limit, options.signal);
  switch (w.status) {
    case WireStatus.COMPLETED:
      return decodeJson(w.output, "output") as T;
    case WireStatus.FAILED:
      throw new WorkflowFailedError(id, w.error!);
    case WireStatus.CANCELLED:
      throw new WorkflowCancelledError(id, cancelReason(w.error?.message ?? ""));
  }
  throw w.error
    ? KagziError.fromDetail(w.error)
    : new KagziError("INTERNAL", `The server answered the wait for run ${id} without an outcome`);
}
