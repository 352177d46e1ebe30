/** Events from the client: emit (fan-out to the subscribed workflow types), list, subscriptions. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Event } from "@kagzi/proto";
import { decodeJson, encodeJson } from "../_payload.ts";
import { rpc, type Services } from "./_services.ts";

/** A run an event started. */
export interface EventRun {
  /** The workflow type subscribed to the event. */
  workflowType: string;
  /** The run's id. */
  runId: string;
  /** The run's workflow id (a new UUID). */
  workflowId: string;
}

/** An emitted event and the runs it started (one per type subscribed when it was emitted). */
export interface EventInfo {
  /** The event's name, e.g. "order.created". */
  name: string;
  /** Its id: emitting the name again with this id starts nothing. */
  id: string;
  /** The namespace of the event and of its runs. */
  namespace: string;
  /** The data, each run's input. */
  data: unknown;
  /** The runs it started, one per subscribed type. */
  runs: EventRun[];
  /** When it was emitted. */
  createdAt: Date | undefined;
}

/** What {@linkcode Kagzi.emit} did. */
export interface EmitResult extends EventInfo {
  /** True when this id had been emitted before: `runs` are that emit's, nothing new started. */
  alreadyExists: boolean;
}

/** Options of {@linkcode Kagzi.emit}. */
export interface EmitOptions {
  /** The idempotency key of the event. @default a new UUID (each emit is a new event) */
  id?: string;
  /** The event's namespace. @default the client's namespace */
  namespace?: string;
}

/** Options of {@linkcode Kagzi.listEvents}. */
export interface ListEventsOptions {
  /** The namespace to list. @default the client's namespace */
  namespace?: string;
  /** Only events of this name. */
  name?: string;
  /** Events per page (1-1000). @default 50 */
  pageSize?: number;
  /** Continue after a previous page. @default "" (the newest) */
  pageToken?: string;
}

/** One page of events. */
export interface EventPage {
  /** Newest first. */
  events: EventInfo[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** A workflow type subscribed to an event. */
export interface EventSubscription {
  /** The event's name. */
  event: string;
  /** The type each such event starts a run of. */
  workflowType: string;
  /** Since when. */
  createdAt: Date | undefined;
}

function eventFromWire(e: Event): EventInfo {
  let data: { v: unknown } | undefined;
  return {
    name: e.name,
    id: e.eventId,
    namespace: e.namespace,
    get data() {
      data ??= { v: decodeJson(e.data, "event data") };
      return data.v;
    },
    runs: e.runs.map((r) => ({
      workflowType: r.workflowType,
      runId: r.runId,
      workflowId: r.workflowId,
    })),
    createdAt: e.createdAt && timestampDate(e.createdAt),
  };
}

/** EmitEvent under the given id, or a new one (then a retried emit is still this one). */
export async function emit(
  services: Services,
  namespace: string,
  name: string,
  data: unknown,
  options: EmitOptions,
): Promise<EmitResult> {
  const eventId = options.id ?? crypto.randomUUID();
  const payload = encodeJson(data, `event "${name}" data`);
  const res = await rpc(() =>
    services.events.emitEvent({ namespace, name, data: payload, eventId })
  );
  const info = eventFromWire(res.event!);
  return Object.assign(info, { alreadyExists: options.id !== undefined && res.alreadyExists });
}

/** One page of events, newest first. */
export async function listEvents(
  services: Services,
  namespace: string,
  options: ListEventsOptions,
): Promise<EventPage> {
  const res = await rpc(() =>
    services.events.listEvents({
      namespace,
      name: options.name ?? "",
      page: { pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "" },
    })
  );
  return { events: res.events.map(eventFromWire), nextPageToken: res.page?.nextPageToken ?? "" };
}

/** The subscriptions of a namespace, optionally to one event. */
export async function listSubscriptions(
  services: Services,
  namespace: string,
  event: string,
): Promise<EventSubscription[]> {
  const res = await rpc(() => services.events.listEventSubscriptions({ namespace, event }));
  return res.subscriptions.map((s) => ({
    event: s.event,
    workflowType: s.workflowType,
    createdAt: s.createdAt && timestampDate(s.createdAt),
  }));
}

/** Unsubscribes a type from an event; whether it was subscribed. */
export async function deleteSubscription(
  services: Services,
  namespace: string,
  event: string,
  workflowType: string,
): Promise<boolean> {
  const res = await rpc(() =>
    services.events.deleteEventSubscription({ namespace, event, workflowType })
  );
  return res.deleted;
}
