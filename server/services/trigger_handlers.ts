/**
 * WorkflowScheduleService handler TriggerWorkflowSchedule: one run of a schedule, now, under its
 * type's flow control (INVALID_ARGUMENT naming the schedule, type and key when the schedule's
 * input cannot give a key the limits need; nothing is started).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { TriggerWorkflowScheduleResponseSchema, type WorkflowScheduleService } from "@kagzi/proto";
import { ConflictError } from "../errors.ts";
import { scheduledFlow, scheduledRun } from "../engine/scheduler.ts";
import * as starts from "../store/run_starts.ts";
import * as schedules from "../store/schedules.ts";
import { scheduleNotFound } from "./_not_found.ts";
import type { ServiceContext } from "./_context.ts";
import * as v from "./_validate.ts";

type TriggerHandlers = Pick<ServiceImpl<typeof WorkflowScheduleService>, "triggerWorkflowSchedule">;

/** The TriggerWorkflowSchedule handler. */
export function triggerHandlers(ctx: ServiceContext): TriggerHandlers {
  const { db } = ctx;
  return {
    async triggerWorkflowSchedule(req) {
      const op = "trigger schedule";
      const namespaceId = v.namespace(op, req.namespace);
      const scheduleId = v.name(op, "schedule_id", req.scheduleId);
      const s = await schedules.getSchedule(db, namespaceId, scheduleId);
      if (!s) {
        throw scheduleNotFound(namespaceId, scheduleId);
      }
      const runId = crypto.randomUUID();
      // Told apart from cron fires ("<id>@<fire time>") and from each other.
      const workflowId = `${scheduleId}@${new Date(ctx.clock.now()).toISOString()}/manual-${
        runId.slice(0, 8)
      }`;
      const run = scheduledRun(s, runId, workflowId);
      run.flow = await scheduledFlow(db, "trigger", s, run);
      const inserted = await starts.insertRun(db, run);
      if (!inserted) {
        throw new ConflictError("workflow_id", workflowId, `Cannot ${op}: try again`);
      }
      ctx.dispatch.runDue(namespaceId, s.workflow_type, s.version || undefined);
      return create(TriggerWorkflowScheduleResponseSchema, { runId, workflowId });
    },
  };
}
