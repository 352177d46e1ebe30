/**
 * The calls of a client about schedules, events, hooks, workers and the server: `Kagzi`
 * extends this class, so they are `client.schedule(…)`, `client.emit(…)`, `client.health()` …
 */
import type { Health, ServerInfo, StepAttemptInfo, WorkerSummary } from "../types.ts";
import * as admin from "./admin.ts";
import type { Services } from "./_services.ts";
import type { WorkflowRun } from "./runs.ts";
import * as schedules from "./schedules.ts";
import * as events from "./events.ts";
import * as hooks from "./hooks.ts";
import type { NamespaceOption } from "./options.ts";

/** Schedules, events, hooks and discovery; the base of `Kagzi` (use `Kagzi.connect`). */
export class KagziOperations {
  readonly #services: Services;
  /** The namespace used when a call names none. */
  readonly namespace: string;

  /** @internal */
  protected constructor(services: Services, namespace: string) {
    this.#services = services;
    this.namespace = namespace;
  }

  #ns(options: NamespaceOption): string {
    return options.namespace ?? this.namespace;
  }

  /** Creates (or replaces) the cron schedule `id`; await the builder to send it. */
  schedule(id: string): schedules.ScheduleCall {
    return new schedules.ScheduleCall(this.#services.schedules, id, this.namespace);
  }

  /** Reads a schedule, with its next and last fire times. */
  getSchedule(id: string, options: NamespaceOption = {}): Promise<schedules.Schedule> {
    return schedules.getSchedule(this.#services.schedules, this.#ns(options), id);
  }

  /** One page of schedules, optionally of one workflow type. */
  listSchedules(options: schedules.ListSchedulesOptions = {}): Promise<schedules.SchedulePage> {
    return schedules.listSchedules(this.#services.schedules, this.#ns(options), options);
  }

  /** Changes the fields in `patch`; a new cron, time zone or re-enabling fires from now on. */
  updateSchedule(
    id: string,
    patch: schedules.SchedulePatch,
    options: NamespaceOption = {},
  ): Promise<schedules.Schedule> {
    return schedules.updateSchedule(this.#services.schedules, this.#ns(options), id, patch);
  }

  /** Deletes a schedule; the runs it started are kept. */
  deleteSchedule(id: string, options: NamespaceOption = {}): Promise<void> {
    return schedules.deleteSchedule(this.#services.schedules, this.#ns(options), id);
  }

  /**
   * Starts one run of the schedule now, enabled or not, with its type, version and input; the
   * run lists under the schedule (`list().scheduleId(id)`), its cron times are unchanged.
   */
  triggerSchedule(id: string, options: NamespaceOption = {}): Promise<WorkflowRun> {
    return schedules.triggerSchedule(this.#services, this.#ns(options), id);
  }

  /**
   * Emits event `name`: starts one run of every workflow type subscribed to it (`triggers` in
   * its definition) with `data` as input, in one transaction with the event's record. Once per
   * `id`: a repeated id starts nothing and resolves with the first emit (`alreadyExists`).
   */
  emit(name: string, data?: unknown, options: events.EmitOptions = {}): Promise<events.EmitResult> {
    return events.emit(this.#services, this.#ns(options), name, data, options);
  }

  /** One page of emitted events, newest first, each with the runs it started. */
  listEvents(options: events.ListEventsOptions = {}): Promise<events.EventPage> {
    return events.listEvents(this.#services, this.#ns(options), options);
  }

  /** Which workflow types are subscribed to which events (optionally to `event` only). */
  listEventSubscriptions(
    options: NamespaceOption & { event?: string } = {},
  ): Promise<events.EventSubscription[]> {
    return events.listSubscriptions(this.#services, this.#ns(options), options.event ?? "");
  }

  /** Unsubscribes `type` from `event` (until a worker registers it with that trigger again). */
  deleteEventSubscription(
    event: string,
    type: string,
    options: NamespaceOption = {},
  ): Promise<boolean> {
    return events.deleteSubscription(this.#services, this.#ns(options), event, type);
  }

  /**
   * Creates (or replaces) webhook `name`: a signed `POST /v1/hooks/{namespace}/{name}` starts a
   * run of `workflow` (or emits `event`) with the JSON body. The secret is never returned.
   */
  createHook(name: string, options: hooks.CreateHookOptions): Promise<hooks.HookInfo> {
    return hooks.createHook(this.#services, this.#ns(options ?? {}), name, options);
  }

  /** The namespace's webhooks, without their secrets. */
  listHooks(options: NamespaceOption = {}): Promise<hooks.HookInfo[]> {
    return hooks.listHooks(this.#services, this.#ns(options));
  }

  /** Deletes a webhook; its deliveries are refused (404) from then on. */
  deleteHook(name: string, options: NamespaceOption = {}): Promise<void> {
    return hooks.deleteHook(this.#services, this.#ns(options), name);
  }

  /** The server's health, including its database. */
  health(): Promise<Health> {
    return admin.health(this.#services);
  }

  /** The server's version, API version, features and default versions. */
  serverInfo(options: NamespaceOption = {}): Promise<ServerInfo> {
    return admin.serverInfo(this.#services, this.#ns(options));
  }

  /** Workers of a namespace (one page), with health derived from their heartbeats. */
  listWorkers(
    options: admin.ListWorkersOptions = {},
  ): Promise<{ workers: WorkerSummary[]; nextPageToken: string }> {
    return admin.listWorkers(this.#services, this.#ns(options), options);
  }

  /** One worker by id. */
  getWorker(workerId: string, options: NamespaceOption = {}): Promise<WorkerSummary> {
    return admin.getWorker(this.#services, this.#ns(options), workerId);
  }

  /** Asks a worker to drain: it stops polling, finishes or releases its runs and deregisters. */
  drainWorker(workerId: string, options: NamespaceOption = {}): Promise<WorkerSummary> {
    return admin.drainWorker(this.#services, this.#ns(options), workerId);
  }

  /**
   * Runs begun, completed, failed and cancelled per minute and workflow type over the last
   * `minutes` (default 60), counted by the server from its store.
   */
  runStats(options: admin.RunStatsOptions = {}): Promise<admin.RunStats> {
    return admin.runStats(this.#services, this.#ns(options), options.minutes ?? 60);
  }

  /** Every attempt of every step of a run, in the order they started. */
  listSteps(runId: string, options: NamespaceOption = {}): Promise<StepAttemptInfo[]> {
    return admin.listSteps(this.#services, this.#ns(options), runId);
  }

  /** Every attempt of one step of a run. */
  getStep(
    runId: string,
    name: string,
    options: admin.GetStepOptions = {},
  ): Promise<StepAttemptInfo[]> {
    return admin.getStep(this.#services, this.#ns(options), runId, name, options);
  }

  /** Makes `version` the one new runs of `type` get when they name none. */
  setDefaultVersion(type: string, version: string, options: NamespaceOption = {}): Promise<void> {
    return admin.setDefaultVersion(this.#services, this.#ns(options), type, version);
  }
}
