/** The client: start, inspect, list and cancel workflow runs; schedules; discovery. */
import { addressLabel, createTransport, type ServerAddress, wrongEndpoint } from "../_transport.ts";
import { parseDuration } from "../duration.ts";
import { KagziError } from "../errors.ts";
import type { Workflow } from "../types.ts";
import { flowControl, type FlowControlInfo } from "./flow.ts";
import { createServices, type Services } from "./_services.ts";
import { ListCall } from "./list.ts";
import { BulkCall, BulkOperationHandle } from "./bulk.ts";
import {
  CancelCall,
  GetCall,
  pauseRun,
  pauseType,
  type RerunOptions,
  type ResumeOptions,
  resumeRun,
  resumeType,
  retryRun,
  type WorkflowRun,
} from "./runs.ts";
import { type NamedRateLimit, type RateLimitArgs, rl } from "./rate_limits.ts";
import { StartCall } from "./start.ts";
import { makeHandle, type RunHandle, type RunRef } from "./handle.ts";
import {
  listSignals,
  type ListSignalsOptions,
  sendSignal,
  type SignalInfo,
  type SignalOptions,
  type SignalSent,
} from "./signals.ts";
import type { AnyWorkflowRef, InputOf, OutputOf } from "../workflow_ref.ts";
import * as tokens from "./tokens.ts";
import type {
  RotateTokenSecretOptions,
  TokenCallOptions,
  TokenInfo,
  TokenSecretRotation,
} from "./tokens.ts";
import type { ConnectOptions, NamespaceOption } from "./options.ts";
import { KagziOperations } from "./kagzi_operations.ts";

export type { ConnectOptions, NamespaceOption } from "./options.ts";

/** Connects to a Kagzi server. */
export class Kagzi extends KagziOperations {
  readonly #services: Services;

  private constructor(services: Services, namespace: string) {
    super(services, namespace);
    this.#services = services;
  }

  /**
   * Connects to the server at `addr` (a URL, or a server created in this process with
   * `createServer()`, called with no network hop) and checks that it answers; rejects with an
   * UNAVAILABLE KagziError naming the address when it does not.
   */
  static async connect(addr: ServerAddress, options: ConnectOptions = {}): Promise<Kagzi> {
    const retryTimeoutMs = parseDuration(options.retryTimeout ?? "30s", "retryTimeout");
    const transport = await createTransport(addr, { ...options, retryTimeoutMs });
    const client = new Kagzi(
      createServices(transport, retryTimeoutMs),
      options.namespace ?? "default",
    );
    const timeoutMs = parseDuration(options.connectTimeout ?? "10s", "connectTimeout");
    try {
      await client.#services.admin.healthCheck({}, { timeoutMs });
    } catch (err) {
      const wrong = wrongEndpoint(err, addr, options.protocol);
      if (wrong) throw wrong;
      const cause = KagziError.from(err);
      if (cause.code === "UNAUTHORIZED") {
        throw new KagziError(
          "UNAUTHORIZED",
          `The Kagzi server at ${addressLabel(addr)} refused the call: ${cause.message}`,
          { subject: "apiKey", nonRetryable: true, cause: err },
        );
      }
      throw new KagziError(
        "UNAVAILABLE",
        `Cannot reach the Kagzi server at ${addressLabel(addr)}: ${cause.message}`,
        { subject: "addr", subjectId: addressLabel(addr), cause: err },
      );
    }
    return client;
  }

  #ns(options: NamespaceOption): string {
    return options.namespace ?? this.namespace;
  }

  /** Starts a run of a typed workflow (`defineWorkflow` / `workflowRef`); input and result are typed. */
  start<W extends AnyWorkflowRef>(workflow: W): StartCall<OutputOf<W>, InputOf<W>>;
  /** Starts a run of `type` (awaiting the builder sends the request). */
  start<T = unknown>(type: string): StartCall<T>;
  start(workflow: string | AnyWorkflowRef): StartCall<unknown, unknown> {
    const type = typeof workflow === "string" ? workflow : workflow.type;
    return new StartCall(this.#services, type, this.namespace);
  }

  /** Sends run `runId` signal `name`; resolves once it is durably stored. */
  signal(
    runId: string,
    name: string,
    payload?: unknown,
    options: SignalOptions = {},
  ): Promise<SignalSent> {
    return sendSignal(this.#services, this.namespace, runId, name, payload, options);
  }

  /**
   * Completes token `tokenId` (`ctx.token()`) with `value`: the run's `t.wait()` resumes with
   * it. A token settled before, or expired, is PRECONDITION_FAILED and keeps its outcome.
   */
  completeToken(
    tokenId: string,
    value?: unknown,
    options: TokenCallOptions = {},
  ): Promise<TokenInfo> {
    return tokens.completeToken(this.#services, this.#ns(options), tokenId, value);
  }

  /** Fails token `tokenId`: the run's `t.wait()` rejects with `TokenFailedError(reason)`. */
  failToken(tokenId: string, reason: string, options: TokenCallOptions = {}): Promise<TokenInfo> {
    return tokens.failToken(this.#services, this.#ns(options), tokenId, reason);
  }

  /** The tokens of run `runId` (pending, completed, failed, expired), oldest first. */
  listTokens(runId: string, options: TokenCallOptions = {}): Promise<TokenInfo[]> {
    return tokens.listTokens(this.#services, this.#ns(options), runId);
  }

  /**
   * Adds a secret for signing token URLs (admin key); its id. Earlier URLs stay valid unless
   * `retireOlder`: then every older secret is deleted and their URLs are refused (401) at once
   * on every server; `listTokens` hands out the pending tokens' URLs signed anew.
   */
  async rotateTokenSecret(options: RotateTokenSecretOptions = {}): Promise<number> {
    return (await tokens.rotateTokenSecret(this.#services, options)).secretId;
  }

  /** Like {@linkcode Kagzi.rotateTokenSecret}: the new id and how many secrets were retired. */
  rotateTokenSecretDetailed(options: RotateTokenSecretOptions = {}): Promise<TokenSecretRotation> {
    return tokens.rotateTokenSecret(this.#services, options);
  }

  /** The signals of run `runId`, pending and consumed, oldest first. */
  listSignals(runId: string, options: ListSignalsOptions = {}): Promise<SignalInfo[]> {
    return listSignals(this.#services, this.namespace, runId, options);
  }

  /**
   * Attaches to a run knowing only its run id, or `{ workflowId }` (then the newest run under
   * it): get, result, signal, cancel, steps. Nothing is sent until one of those is called.
   */
  handle<T = unknown>(ref: RunRef, options: NamespaceOption = {}): RunHandle<T> {
    return makeHandle<T>(this.#services, this.#ns(options), ref);
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

  /**
   * Holds an open run (PENDING, RUNNING or SLEEPING) as PAUSED until {@linkcode Kagzi.resume}:
   * nothing claims it; a RUNNING run stops at its next step boundary (the output of a step in
   * flight is stored; the step after it does not start). It keeps its
   * workflow id, deadline and signals; `cancel()` ends it. Pausing a PAUSED run returns it as
   * it is; an ended or PARKED run is PRECONDITION_FAILED.
   */
  pause(runId: string, options: NamespaceOption = {}): Promise<Workflow> {
    return pauseRun(this.#services, this.#ns(options), runId);
  }

  /**
   * Pauses workflow type `type` in the namespace (during an incident): its open runs become
   * PAUSED as with {@linkcode Kagzi.pause}, and no run of the type is claimed — runs started
   * meanwhile wait PENDING — until {@linkcode Kagzi.resumeType}. Resolves with how many runs it
   * paused.
   */
  pauseType(type: string, options: NamespaceOption = {}): Promise<{ paused: number }> {
    return pauseType(this.#services, this.#ns(options), type);
  }

  /**
   * A bulk operation over a filter (at least one of status, type, version, time range, tag):
   * `client.bulk().status("FAILED").type("x").rerun()` (or `.cancel()`, `.pause()`,
   * `.resume()`) starts a server-side job and resolves to its handle; `progress()` follows it.
   */
  bulk(): BulkCall {
    return new BulkCall(this.#services, this.namespace);
  }

  /** The handle of a bulk operation started earlier (by any process). */
  bulkOperation(id: string, options: NamespaceOption = {}): BulkOperationHandle {
    return new BulkOperationHandle(this.#services, this.#ns(options), id);
  }

  /** Lets a paused type be claimed again and resumes every PAUSED run of it; how many. */
  resumeType(type: string, options: NamespaceOption = {}): Promise<{ resumed: number }> {
    return resumeType(this.#services, this.#ns(options), type);
  }

  /**
   * Lets a PAUSED run, or a PARKED run (one whose replay asked for another step than its
   * history recorded), be claimed again: a parked one after deploying code that matches its
   * history, or with `fromHere: true` accepting the current code from the point it parked.
   * Any other run is PRECONDITION_FAILED.
   */
  resume(runId: string, options: ResumeOptions = {}): Promise<Workflow> {
    return resumeRun(this.#services, this.#ns(options), runId, options);
  }

  /**
   * Starts a new run with the type, version, input and context of a finished (COMPLETED,
   * FAILED or CANCELLED) run, under its workflow id; the new run's `retriedFromRunId` names
   * the old one. An open run is PRECONDITION_FAILED, an unknown one NOT_FOUND.
   */
  retry<T = unknown>(runId: string, options: NamespaceOption = {}): Promise<WorkflowRun<T>> {
    return retryRun<T>(this.#services, this.#ns(options), runId);
  }

  /**
   * Like {@linkcode Kagzi.retry}, from step `fromStep`: the new run (linked by
   * `retriedFromRunId`; the old run lists it in `reruns`) keeps the stored outputs of the steps
   * the old run completed before it began `fromStep`, and runs `fromStep` and what follows. An
   * unknown step is INVALID_ARGUMENT naming the steps the run has.
   */
  rerun<T = unknown>(runId: string, options: RerunOptions = {}): Promise<WorkflowRun<T>> {
    return retryRun<T>(this.#services, this.#ns(options), runId, options.fromStep ?? "");
  }

  /** Creates or replaces the named rate limit `name` (`ctx.step(n).rateLimit(name)`). */
  setRateLimit(name: string, options: RateLimitArgs): Promise<NamedRateLimit> {
    return rl.setRateLimit(this.#services, this.#ns(options ?? {}), name, options);
  }
  /** Reads the named rate limit `name` (NOT_FOUND when it is not defined). */
  getRateLimit(name: string, options: NamespaceOption = {}): Promise<NamedRateLimit> {
    return rl.getRateLimit(this.#services, this.#ns(options), name);
  }
  /** Every named rate limit of the namespace, by name. */
  listRateLimits(options: NamespaceOption = {}): Promise<NamedRateLimit[]> {
    return rl.listRateLimits(this.#services, this.#ns(options));
  }
  /** Deletes the named rate limit; steps that ask for it then fail (INVALID_ARGUMENT). */
  deleteRateLimit(name: string, options: NamespaceOption = {}): Promise<void> {
    return rl.deleteRateLimit(this.#services, this.#ns(options), name);
  }

  /** The flow control stored for a workflow type (per version) and its concurrency keys in use. */
  flowControl(
    type: string | { type: string },
    options: NamespaceOption = {},
  ): Promise<FlowControlInfo> {
    return flowControl(
      this.#services,
      this.#ns(options),
      typeof type === "string" ? type : type.type,
    );
  }
}
