/** EventService: emit events (fan-out to subscribed types), list them and the subscriptions. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteEventSubscriptionResponseSchema,
  EmitEventResponseSchema,
  type Event,
  EventSchema,
  type EventService,
  EventSubscriptionSchema,
  ListEventsResponseSchema,
  ListEventSubscriptionsResponseSchema,
} from "@kagzi/proto";
import * as events from "../store/events.ts";
import type { ServiceContext } from "./_context.ts";
import { payloadOf, ts } from "./_convert.ts";
import { emitEvent } from "./_emit.ts";
import * as v from "./_validate.ts";

/** An event row as an Event message. */
export function eventToProto(r: events.EventRow): Event {
  return create(EventSchema, {
    namespace: r.namespace_id,
    name: r.event_name,
    eventId: r.event_id,
    data: payloadOf(r.data, r.metadata),
    runs: r.runs.map((x) => ({
      workflowType: x.workflow_type,
      runId: x.run_id,
      workflowId: x.workflow_id,
    })),
    createdAt: ts(r.created_at),
  });
}

/** The EventService handlers. */
export function eventService(ctx: ServiceContext): ServiceImpl<typeof EventService> {
  const { db } = ctx;
  return {
    async emitEvent(req) {
      const op = "emit event";
      const namespaceId = v.namespace(op, req.namespace);
      const name = v.name(op, "name", req.name);
      const eventId = v.name(op, "event_id", req.eventId, false) || crypto.randomUUID();
      const data = v.payload(op, "data", req.data);
      const res = await emitEvent(ctx, namespaceId, name, eventId, data);
      return create(EmitEventResponseSchema, {
        event: eventToProto(res.event),
        alreadyExists: res.alreadyExists,
      });
    },

    async listEvents(req) {
      const op = "list events";
      const namespaceId = v.namespace(op, req.namespace);
      const name = v.name(op, "name", req.name, false);
      const size = v.pageSize(op, req.page?.pageSize ?? 0);
      const before = v.numericCursor(op, req.page?.pageToken ?? "");
      const rows = await events.listEvents(db, namespaceId, name, before, size + 1);
      const { items, page } = v.pageOf(rows, size, (last) => last.seq);
      return create(ListEventsResponseSchema, { events: items.map(eventToProto), page });
    },

    async listEventSubscriptions(req) {
      const op = "list event subscriptions";
      const namespaceId = v.namespace(op, req.namespace);
      const event = v.name(op, "event", req.event, false);
      const rows = await events.listSubscriptions(db, namespaceId, event);
      return create(ListEventSubscriptionsResponseSchema, {
        subscriptions: rows.map((r) =>
          create(EventSubscriptionSchema, {
            event: r.event_name,
            workflowType: r.workflow_type,
            createdAt: ts(r.created_at),
          })
        ),
      });
    },

    async deleteEventSubscription(req) {
      const op = "delete event subscription";
      const namespaceId = v.namespace(op, req.namespace);
      const event = v.name(op, "event", req.event);
      const workflowType = v.name(op, "workflow_type", req.workflowType);
      const deleted = await events.deleteSubscription(db, namespaceId, event, workflowType);
      return create(DeleteEventSubscriptionResponseSchema, { deleted });
    },
  };
}
