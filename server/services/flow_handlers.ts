/** AdminService.GetFlowControl: the flow control stored for a type and its keys in use. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type AdminService, GetFlowControlResponseSchema } from "@kagzi/proto";
import * as flows from "../store/flow_controls.ts";
import type { ServiceContext } from "./_context.ts";
import { ts } from "./_convert.ts";
import { type FlowConfig, flowConfigToProto } from "./_flow.ts";
import { slotKeyParts } from "./_flow_keys.ts";
import * as v from "./_validate.ts";

type FlowHandlers = Pick<ServiceImpl<typeof AdminService>, "getFlowControl">;

/** The GetFlowControl handler of AdminService. */
export function flowHandlers(ctx: ServiceContext): FlowHandlers {
  return {
    async getFlowControl(req) {
      const op = "get flow control";
      const namespaceId = v.namespace(op, req.namespace);
      const workflowType = v.name(op, "workflow_type", req.workflowType);
      const [rows, slots] = await Promise.all([
        flows.flowControlsOf(ctx.db, namespaceId, workflowType),
        flows.slotsInUse(ctx.db, namespaceId, workflowType, 1000),
      ]);
      return create(GetFlowControlResponseSchema, {
        workflowType,
        registrations: rows.map((r) => ({
          version: r.version,
          flowControl: flowConfigToProto(r.config as FlowConfig),
          workerId: r.worker_id,
          updatedAt: ts(r.updated_at),
        })),
        keys: slots.map((s) => ({
          ...slotKeyParts(s.slot_key),
          used: s.used,
          limit: s.cap,
          waiting: s.waiting,
        })),
      });
    },
  };
}
