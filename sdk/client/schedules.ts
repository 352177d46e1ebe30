/** Cron schedules from the client: create (or replace), read, list, update, delete. */
import type { Client } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { WorkflowSchedule, WorkflowScheduleService } from "@kagzi/proto";
import { Call } from "../_call.ts";
import { decodeJson, encodeJson } from "../_payload.ts";
import { rpc, type Services } from "./_services.ts";
import { makeRun, type WorkflowRun } from "./runs.ts";

/** A cron schedule as stored. */
export interface Schedule {
  /** The schedule's id within its namespace. */
  id: string;
  /** The namespace of the schedule and of the runs it starts. */
  namespace: string;
  /** The workflow type each fire starts. */
  workflowType: string;
  /** 5 fields, 6 with leading seconds, or a macro such as "@hourly". */
  cron: string;
  /** IANA time zone; "" is UTC. */
  timezone: string;
  /** The input of each run it starts. */
  input: unknown;
  /** The version each run is pinned to ("" for the type's default). */
  version: string;
  /** Whether it fires. */
  enabled: boolean;
  /** Missed fires started after downtime (most recent, oldest first); 0 skips them. */
  maxCatchup: number;
  /** The next fire time; absent while disabled. */
  nextFireAt: Date | undefined;
  /** The last fire time a run was started for. */
  lastFiredAt: Date | undefined;
  /** When the schedule was created. */
  createdAt: Date | undefined;
  /** When it last changed. */
  updatedAt: Date | undefined;
}

/** The fields `updateSchedule` may change; absent ones are kept. */
export interface SchedulePatch {
  /** A new workflow type. */
  workflow?: string;
  /** A new cron expression; fires from now on. */
  cron?: string;
  /** A new IANA time zone; fires from now on. */
  timezone?: string;
  /** A new input for the runs it starts. */
  input?: unknown;
  /** A new version for the runs it starts. */
  version?: string;
  /** Disable, or enable (firing from now on, without a burst of missed fires). */
  enabled?: boolean;
  /** Missed fires to start after downtime. */
  catchup?: number;
}

/** One page of schedules. */
export interface SchedulePage {
  /** The schedules of this page, in id order. */
  schedules: Schedule[];
  /** Empty on the last page. */
  nextPageToken: string;
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

/** The schedule client of a connection. @internal */
export type ScheduleRpc = Client<typeof WorkflowScheduleService>;

/** A wire schedule as a {@linkcode Schedule}. */
export function scheduleFromWire(s: WorkflowSchedule): Schedule {
  const d = (t: WorkflowSchedule["nextFireAt"]) => (t ? timestampDate(t) : undefined);
  let input: { v: unknown } | undefined;
  return {
    id: s.scheduleId,
    namespace: s.namespace,
    workflowType: s.workflowType,
    cron: s.cron,
    timezone: s.timezone,
    get input() {
      input ??= { v: s.input ? decodeJson(s.input, "input") : undefined };
      return input.v;
    },
    version: s.version,
    enabled: s.enabled,
    maxCatchup: s.maxCatchup,
    nextFireAt: d(s.nextFireAt),
    lastFiredAt: d(s.lastFiredAt),
    createdAt: d(s.createdAt),
    updatedAt: d(s.updatedAt),
  };
}

/** Builder of a CreateWorkflowSchedule request (creates, or replaces the schedule with this id). */
export class ScheduleCall extends Call<Schedule> {
  #workflow = "";
  #cron = "";
  #timezone = "";
  #input: unknown;
  #version = "";
  #enabled = true;
  #catchup = 0;

  /** @internal */
  constructor(private readonly rpc: ScheduleRpc, private readonly id: string, namespace: string) {
    super(namespace);
  }
  /** The workflow type each fire starts. */
  workflow(type: string): this {
    this.#workflow = type;
    return this;
  }
  /** The cron expression: 5 fields, 6 with seconds, or "@hourly"-style macros. */
  cron(expression: string): this {
    this.#cron = expression;
    return this;
  }
  /** The IANA time zone the expression is read in. @default "UTC" */
  timezone(tz: string): this {
    this.#timezone = tz;
    return this;
  }
  /** The input of each run (a value that round-trips through JSON; see the README). */
  input(value: unknown): this {
    this.#input = value;
    return this;
  }
  /** The workflow version each run is pinned to. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** Missed fires to start after downtime. @default 0 */
  catchup(n: number): this {
    this.#catchup = n;
    return this;
  }
  /** Whether it fires. @default true */
  enabled(on: boolean): this {
    this.#enabled = on;
    return this;
  }

  /** Sends the CreateWorkflowSchedule request. */
  protected async execute(): Promise<Schedule> {
    const res = await this.rpc.createWorkflowSchedule({
      namespace: this.ns,
      scheduleId: this.id,
      workflowType: this.#workflow,
      cron: this.#cron,
      timezone: this.#timezone,
      input: this.#input === undefined ? undefined : encodeJson(this.#input, "input"),
      version: this.#version,
      enabled: this.#enabled,
      maxCatchup: this.#catchup,
    });
    return scheduleFromWire(res.schedule!);
  }
}

/** Reads a schedule, with its next and last fire times. */
export function getSchedule(r: ScheduleRpc, namespace: string, id: string): Promise<Schedule> {
  return rpc(async () =>
    scheduleFromWire((await r.getWorkflowSchedule({ namespace, scheduleId: id })).schedule!)
  );
}

/** One page of schedules, optionally of one workflow type. */
export function listSchedules(
  r: ScheduleRpc,
  namespace: string,
  options: ListSchedulesOptions,
): Promise<SchedulePage> {
  return rpc(async () => {
    const res = await r.listWorkflowSchedules({
      namespace,
      workflowType: options.type ?? "",
      page: { pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "" },
    });
    return {
      schedules: res.schedules.map(scheduleFromWire),
      nextPageToken: res.page?.nextPageToken ?? "",
    };
  });
}

/** Changes the fields in `patch`. */
export function updateSchedule(
  r: ScheduleRpc,
  namespace: string,
  id: string,
  patch: SchedulePatch,
): Promise<Schedule> {
  return rpc(async () => {
    const res = await r.updateWorkflowSchedule({
      namespace,
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
  });
}

/** Deletes a schedule; the runs it started are kept. */
export function deleteSchedule(r: ScheduleRpc, namespace: string, id: string): Promise<void> {
  return rpc(async () => {
    await r.deleteWorkflowSchedule({ namespace, scheduleId: id });
  });
}

/** Starts one run of the schedule now (enabled or not); its cron times are unchanged. */
export function triggerSchedule(
  services: Services,
  namespace: string,
  id: string,
): Promise<WorkflowRun> {
  return rpc(async () => {
    const res = await services.schedules.triggerWorkflowSchedule({ namespace, scheduleId: id });
    return makeRun(services, namespace, res.runId, res.workflowId, false);
  });
}
