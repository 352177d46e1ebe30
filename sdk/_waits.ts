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
  cancelReason,
  KagziError,
  SignalTimeoutError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "./errors.ts";
import { decodeJson, encodeJson } from "./_payload.ts";
import type { Req, Res, RunMethod } from "./_rpc.ts";
import type { WorkflowRef } from "./workflow_ref.ts";
import { DurableWait, type WaitSpec } from "./_durable_wait.ts";

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
  /** A wait until `at` that only a suspension ends (the run resumes then, replayed). */
  waitUntil(at: Date): Promise<never>;
  /** A sleep until `at`: the worker may keep the run and end it itself (see _timed_waits.ts). */
  sleepUntil(at: Date): Promise<void>;
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
): DurableWait<T> {
  let problem: unknown;
  let timeoutMs: number | undefined;
  try {
    if (options.timeout !== undefined) timeoutMs = parseDuration(options.timeout, "timeout");
  } catch (err) {
    problem = err;
  }
  // The occurrence is fixed now, whether it is awaited alone or raced by ctx.any().
  const { occurrence, record } = host.gone()
    ? { occurrence: 0, record: undefined }
    : host.next(StepKind.SIGNAL, name);
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
  const run = (): Promise<T> => {
    if (host.gone()) return host.never;
    if (problem) return Promise.reject(problem);
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
  };
  const deadline = timeoutMs === undefined ? undefined : new Date(host.now() + timeoutMs);
  return new DurableWait<T>(
    { kind: StepKind.SIGNAL, name, occurrence, deadline, problem, settle: outcome },
    run,
  );
}

/** The largest child input the server accepts (server/services/_validate.ts, maxPayloadBytes). */
const maxInputBytes = 4 * 1024 * 1024;

/** `ctx.child(name)`: the builder of a child workflow run. */
export function childBuilder(host: WaitHost, name: string): ChildBuilder {
  let workflowId = "";
  let version = "";
  let policy = ParentClosePolicy.CANCEL;
  /**
   * The child's CHILD step, numbered now: `begin()` starts the child once (or finds the stored
   * record) and resolves with its record; undefined when the execution stops.
   */
  const describe = (workflow: string | WorkflowRef, input: unknown) => {
    const type = typeof workflow === "string" ? workflow : workflow?.type;
    if (typeof type !== "string" || type === "") {
      const problem = new KagziError(
        "INVALID_ARGUMENT",
        `ctx.child("${name}"): the workflow type is empty`,
        { subject: "workflow_type", nonRetryable: true },
      );
      return { occurrence: 0, problem, begin: () => Promise.reject(problem) };
    }
    const { occurrence, record } = host.next(StepKind.CHILD, name);
    let started: Promise<StepRecord | undefined> | undefined;
    const begin = (): Promise<StepRecord | undefined> => {
      if (record) return Promise.resolve(record);
      let payload;
      try {
        payload = encodeJson(input, `input of child "${name}"`);
      } catch (err) {
        return Promise.reject(err);
      }
      // Refused here, as the server would refuse it (before it could record the refusal when
      // the request is over its body limit): the same on every replay, nothing asked.
      if (payload.data.byteLength > maxInputBytes) {
        return Promise.reject(
          new KagziError(
            "INVALID_ARGUMENT",
            `ctx.child("${name}"): its input is ${payload.data.byteLength} bytes of JSON; ` +
              `the limit is ${maxInputBytes}`,
            { subject: "input", nonRetryable: true },
          ),
        );
      }
      return started ??= host.track(
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
      ).then((res) => res?.record);
    };
    return { occurrence, problem: undefined, begin };
  };
  const start = <O>(workflow: string | WorkflowRef, input: unknown): Promise<ChildHandle<O>> => {
    if (host.gone()) return host.never;
    const { begin } = describe(workflow, input);
    return begin().then((rec) => {
      if (!rec) return host.never;
      const refused = refusal(rec);
      return refused ? Promise.reject(refused) : handle<O>(host, name, rec);
    });
  };
  const run = <O>(workflow: string | WorkflowRef, input: unknown): DurableWait<O> => {
    if (host.gone()) return new DurableWait<O>(goneSpec(name), () => host.never);
    const { occurrence, problem, begin } = describe(workflow, input);
    let rec: StepRecord | undefined;
    return new DurableWait<O>({
      kind: StepKind.CHILD,
      name,
      occurrence,
      problem,
      prepare: () => begin().then((r) => (rec = r) !== undefined),
      settle: (outcome) => settleChild<O>(host, name, rec?.childRunId ?? "", outcome),
    }, () => begin().then((r) => (r ? handle<O>(host, name, r).result() : host.never)));
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
    run: run as ChildBuilder["run"],
  };
  return builder;
}

/** The spec of a wait made after the execution stopped: it never starts anything. */
function goneSpec<T>(name: string): WaitSpec<T> {
  return { kind: StepKind.CHILD, name, occurrence: 0, settle: () => new Promise<T>(() => {}) };
}

/**
 * The error of a child start the server refused for good (a bad child argument, a workflow id
 * held by a run of another type, an input lacking a key the type's flow control needs): a
 * FAILED CHILD step with no child run, its error named "ChildStartRefusedError" by the server
 * with the refusal's own code (server/services/_child_start.ts; told by name, as a ctx.any
 * outcome has no child run id). Undefined for any other record.
 */
function refusal(rec: StepRecord): KagziError | undefined {
  const e = rec.status === StepStatus.FAILED ? rec.error : undefined;
  return e?.name === "ChildStartRefusedError" ? KagziError.fromDetail(e) : undefined;
}

/** A child's result from its CHILD step's record (or a ctx.any outcome shaped like one). */
function settleChild<O>(host: WaitHost, name: string, runId: string, rec: StepRecord): Promise<O> {
  const refused = refusal(rec);
  if (refused) return Promise.reject(refused);
  if (rec.status === StepStatus.COMPLETED) {
    return Promise.resolve().then(() =>
      (rec.output?.data.length
        ? decodeJson(rec.output, `output of child "${name}"`)
        : undefined) as O
    );
  }
  if (rec.status === StepStatus.FAILED && rec.error) {
    if (rec.error.code === ErrorCode.CANCELLED) {
      return Promise.reject(new WorkflowCancelledError(runId, cancelReason(rec.error.message)));
    }
    return Promise.reject(new WorkflowFailedError(runId, rec.error));
  }
  return host.waitForever();
}

/** The handle of a started child, from its CHILD step's record. */
function handle<O>(host: WaitHost, name: string, rec: StepRecord): ChildHandle<O> {
  const runId = rec.childRunId;
  const step = rec.step;
  return {
    runId,
    result(): DurableWait<O> {
      return new DurableWait<O>({
        kind: StepKind.CHILD,
        name,
        occurrence: step?.occurrence ?? 0,
        settle: (outcome) => settleChild<O>(host, name, runId, outcome),
      }, () => settleChild<O>(host, name, runId, rec));
    },
  };
}
