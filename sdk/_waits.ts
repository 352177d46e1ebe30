/**
 * Signal waits and child workflows inside an execution. Both are steps the server records
 * (kinds SIGNAL and CHILD): their outcome is memoized like a step's, and while they are open
 * the run suspends without a time limit until the server wakes it (a signal arrived, the
 * child ended) or until a signal wait's timeout.
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ErrorCode, ParentClosePolicy, StepKind, type StepRecord, StepStatus } from "@kagzi/proto";
import type { ChildBuilder, ChildHandle, SignalWaitOptions } from "./context.ts";
import { parseDuration } from "./duration.ts";
import {
  KagziError,
  SignalTimeoutError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "./errors.ts";
import { decodeJson, encodeJson } from "./_payload.ts";
import type { Req, Res, RunMethod } from "./_rpc.ts";
import type { WorkflowRef } from "./workflow_ref.ts";

/** What the helpers need of the execution that runs them. */
export interface WaitHost {
  /** The execution was released or is stopping: start nothing new. */
  gone(): boolean;
  /** The next occurrence of a (kind, name) and its stored record, if any. */
  next(kind: StepKind, name: string): { occurrence: number; record: StepRecord | undefined };
  /** Counts `p` as work in flight, so the run does not suspend while it runs. */
  track<T>(p: Promise<T>): Promise<T>;
  /**
   * Before something new starts at (kind, name, occurrence): false when the replay found the
   * code no longer matches the run's history (the run parks; start nothing).
   */
  fresh(kind: StepKind, name: string, occurrence: number): Promise<boolean>;
  waitUntil(at: Date): Promise<never>;
  waitForever(): Promise<never>;
  /** The server's time (ms) when it is in this process (a test's virtual clock), else Date.now(). */
  now(): number;
  /** A call for the held run; undefined when the lease is gone (the execution is released). */
  call<M extends RunMethod>(method: M, req: Req<M>): Promise<Res<M> | undefined>;
  readonly lease: { runId: string; fence: bigint };
  readonly never: Promise<never>;
}

/** `ctx.waitForSignal`: the payload of the next signal of `name`, durably awaited. */
export function waitForSignal<T>(
  host: WaitHost,
  name: string,
  options: SignalWaitOptions = {},
): Promise<T> {
  if (host.gone()) return host.never;
  let timeoutMs: number | undefined;
  try {
    if (options.timeout !== undefined) timeoutMs = parseDuration(options.timeout, "timeout");
  } catch (err) {
    return Promise.reject(err);
  }
  const { occurrence, record } = host.next(StepKind.SIGNAL, name);
  const outcome = (rec: StepRecord): Promise<T> => {
    if (rec.status === StepStatus.COMPLETED) {
      return Promise.resolve().then(() =>
        (rec.output?.data.length ? decodeJson(rec.output, `signal "${name}"`) : undefined) as T
      );
    }
    if (rec.status === StepStatus.FAILED) {
      return Promise.reject(new SignalTimeoutError(name, rec.error?.message ?? ""));
    }
    return rec.wakeUpAt ? host.waitUntil(timestampDate(rec.wakeUpAt)) : host.waitForever();
  };
  if (record && record.status !== StepStatus.WAITING) return outcome(record);
  // Not taken yet: ask the server, which takes the oldest unconsumed signal or records the wait.
  const timeoutAt = timeoutMs === undefined ? undefined : new Date(host.now() + timeoutMs);
  // A recorded wait still WAITING is the history's own: only a new one must match it.
  const matches = record ? Promise.resolve(true) : host.fresh(StepKind.SIGNAL, name, occurrence);
  return host.track(
    matches.then((ok) =>
      ok
        ? host.call("receiveSignal", {
          lease: host.lease,
          step: { kind: StepKind.SIGNAL, name, occurrence },
          timeoutAt: timeoutAt && timestampFromDate(timeoutAt),
        })
        : undefined
    ),
  ).then((res) => (res?.record ? outcome(res.record) : host.never));
}

/** `ctx.child(name)`: the builder of a child workflow run. */
export function childBuilder(host: WaitHost, name: string): ChildBuilder {
  let workflowId = "";
  let version = "";
  let policy = ParentClosePolicy.CANCEL;
  const start = <O>(workflow: string | WorkflowRef, input: unknown): Promise<ChildHandle<O>> => {
    if (host.gone()) return host.never;
    const type = typeof workflow === "string" ? workflow : workflow?.type;
    if (typeof type !== "string" || type === "") {
      return Promise.reject(
        new KagziError("INVALID_ARGUMENT", `ctx.child("${name}"): the workflow type is empty`, {
          subject: "workflow_type",
          nonRetryable: true,
        }),
      );
    }
    const { occurrence, record } = host.next(StepKind.CHILD, name);
    if (record) return Promise.resolve(handle<O>(host, name, record));
    let payload;
    try {
      payload = encodeJson(input, `input of child "${name}"`);
    } catch (err) {
      return Promise.reject(err);
    }
    return host.track(
      host.fresh(StepKind.CHILD, name, occurrence).then((ok) =>
        ok
          ? host.call("startChild", {
            lease: host.lease,
            step: { kind: StepKind.CHILD, name, occurrence },
            workflowType: type,
            workflowId,
            version,
            input: payload,
            parentClosePolicy: policy,
          })
          : undefined
      ),
    ).then((res) => (res?.record ? handle<O>(host, name, res.record) : host.never));
  };
  const builder: ChildBuilder = {
    id(id: string) {
      workflowId = id;
      return builder;
    },
    version(v: string) {
      version = v;
      return builder;
    },
    onParentClose(p: "cancel" | "abandon") {
      if (p !== "cancel" && p !== "abandon") {
        throw new KagziError(
          "INVALID_ARGUMENT",
          `ctx.child("${name}").onParentClose: use "cancel" or "abandon", not ${JSON.stringify(p)}`,
          { subject: "onParentClose", nonRetryable: true },
        );
      }
      policy = p === "abandon" ? ParentClosePolicy.ABANDON : ParentClosePolicy.CANCEL;
      return builder;
    },
    start: start as ChildBuilder["start"],
    run:
      ((workflow: string | WorkflowRef, input: unknown) =>
        start(workflow, input).then((h) => h.result())) as ChildBuilder["run"],
  };
  return builder;
}

/** The handle of a started child, from its CHILD step's record. */
function handle<O>(host: WaitHost, name: string, rec: StepRecord): ChildHandle<O> {
  const runId = rec.childRunId;
  return {
    runId,
    result(): Promise<O> {
      if (rec.status === StepStatus.COMPLETED) {
        return Promise.resolve().then(() =>
          (rec.output?.data.length
            ? decodeJson(rec.output, `output of child "${name}"`)
            : undefined) as O
        );
      }
      if (rec.status === StepStatus.FAILED && rec.error) {
        if (rec.error.code === ErrorCode.CANCELLED) {
          return Promise.reject(new WorkflowCancelledError(runId, rec.error.message));
        }
        return Promise.reject(new WorkflowFailedError(runId, rec.error));
      }
      return host.waitForever();
    },
  };
}
