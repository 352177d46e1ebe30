/** WorkflowScheduleService: cron schedules per namespace. Validate → store → convert. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateWorkflowScheduleResponseSchema,
  DeleteWorkflowScheduleResponseSchema,
  GetWorkflowScheduleResponseSchema,
  ListWorkflowSchedulesResponseSchema,
  UpdateWorkflowScheduleResponseSchema,
  type WorkflowSchedule,
  WorkflowScheduleSchema,
  type WorkflowScheduleService,
} from "@kagzi/proto";
import { CronError, parseCron } from "../engine/cron.ts";
import { schedulesTopic } from "../engine/scheduler.ts";
import { InvalidArgumentError } from "../errors.ts";
import * as schedules from "../store/schedules.ts";
import { storedFlow } from "./_flow_keys.ts";
import { scheduleNotFound } from "./_not_found.ts";
import type { ServiceContext } from "./_context.ts";
import { triggerHandlers } from "./trigger_handlers.ts";
import { payloadOf, ts } from "./_convert.ts";
import * as v from "./_validate.ts";

const maxCatchupLimit = 1000;

/** The WorkflowScheduleService handlers. */
export function scheduleService(ctx: ServiceContext): ServiceImpl<typeof WorkflowScheduleService> {
  const { db, notifier } = ctx;

  /** Checks the cron expression and time zone; the next fire time after now when enabled. */
  const nextFire = (op: string, cron: string, timezone: string, enabled: boolean): Date | null => {
    if (cron.trim() === "") {
      throw new InvalidArgumentError("cron", `Cannot ${op}: "cron" must not be empty`);
    }
    try {
      const next = parseCron(cron, timezone).next(new Date(ctx.clock.now()));
      return enabled ? (next ?? null) : null;
    } catch (err) {
      if (err instanceof CronError) {
        throw new InvalidArgumentError(err.field, `Cannot ${op}: ${err.message}`);
      }
      throw err;
    }
  };

  const catchup = (op: string, n: number) => {
    if (n < 0 || n > maxCatchupLimit) {
      throw new InvalidArgumentError(
        "max_catchup",
        `Cannot ${op}: "max_catchup" ${n} must be from 0 to ${maxCatchupLimit}`,
      );
    }
    return n;
  };

  /**
   * Refuses a schedule whose runs its type's flow control (as registered now) would refuse: its
   * input lacks, or holds a bad value for, a key the limits need. A type not registered yet is
   * checked at each fire instead.
   */
  const checkFlow = async (op: string, f: schedules.ScheduleFields) => {
    const what = `${op} ${v.show(f.scheduleId)} of workflow type ${v.show(f.workflowType)}`;
    const input = f.input ?? { data: new Uint8Array(), metadata: {} };
    await storedFlow(db, what, f.namespaceId, f.workflowType, f.version, input);
  };

  return {
    ...triggerHandlers(ctx),
    async createWorkflowSchedule(req) {
      const op = "create schedule";
      const namespaceId = v.namespace(op, req.namespace);
      const scheduleId = v.name(op, "schedule_id", req.scheduleId);
      const workflowType = v.name(op, "workflow_type", req.workflowType);
      const enabled = req.enabled ?? true;
      const fields: schedules.ScheduleFields = {
        namespaceId,
        scheduleId,
        workflowType,
        cron: req.cron.trim(),
        timezone: req.timezone,
        input: req.input ? v.payload(op, "input", req.input) : null,
        version: v.name(op, "version", req.version, false),
        enabled,
        maxCatchup: catchup(op, req.maxCatchup ?? 0),
        nextFireAt: nextFire(op, req.cron, req.timezone, enabled),
      };
      await checkFlow(op, fields);
      const row = await schedules.upsertSchedule(db, fields);
      notifier.publish(schedulesTopic);
      return create(CreateWorkflowScheduleResponseSchema, {
        schedule: toProto(row),
        replaced: row.replaced,
      });
    },

    async getWorkflowSchedule(req) {
      const op = "get schedule";
      const namespaceId = v.namespace(op, req.namespace);
      const scheduleId = v.name(op, "schedule_id", req.scheduleId);
      const row = await schedules.getSchedule(db, namespaceId, scheduleId);
      if (!row) throw scheduleNotFound(namespaceId, scheduleId);
      return create(GetWorkflowScheduleResponseSchema, { schedule: toProto(row) });
    },

    async listWorkflowSchedules(req) {
      const op = "list schedules";
      const namespaceId = v.namespace(op, req.namespace);
      const size = v.pageSize(op, req.page?.pageSize ?? 0);
      const after = v.cursorKey(op, req.page?.pageToken ?? "");
      const rows = await schedules.listSchedules(
        db,
        namespaceId,
        v.name(op, "workflow_type", req.workflowType, false),
        after,
        size + 1,
      );
      const { items, page } = v.pageOf(rows, size, (s) => s.schedule_id);
      return create(ListWorkflowSchedulesResponseSchema, { schedules: items.map(toProto), page });
    },

    async updateWorkflowSchedule(req) {
      const op = "update schedule";
      const namespaceId = v.namespace(op, req.namespace);
      const scheduleId = v.name(op, "schedule_id", req.scheduleId);
      const row = await schedules.getSchedule(db, namespaceId, scheduleId);
      if (!row) throw scheduleNotFound(namespaceId, scheduleId);
      const cron = req.cron?.trim() ?? row.cron;
      const timezone = req.timezone ?? row.timezone;
      const enabled = req.enabled ?? row.enabled;
      // A new expression, time zone or re-enabling starts from now (no burst of missed fires).
      const recompute = cron !== row.cron || timezone !== row.timezone || (enabled && !row.enabled);
      const next = nextFire(op, cron, timezone, enabled);
      const fields: schedules.ScheduleFields = {
        namespaceId,
        scheduleId,
        workflowType: req.workflowType === undefined
          ? row.workflow_type
          : v.name(op, "workflow_type", req.workflowType),
        cron,
        timezone,
        input: req.input
          ? v.payload(op, "input", req.input)
          : (row.input ? { data: row.input, metadata: row.input_metadata ?? {} } : null),
        version: req.version === undefined
          ? row.version
          : v.name(op, "version", req.version, false),
        enabled,
        maxCatchup: req.maxCatchup === undefined ? row.max_catchup : catchup(op, req.maxCatchup),
        nextFireAt: !enabled ? null : recompute ? next : row.next_fire_at,
      };
      // What a run would be changes, or the schedule fires again: checked as at create (a
      // schedule whose runs would be refused can still be disabled, retimed or deleted).
      const changed = req.input !== undefined || req.workflowType !== undefined ||
        req.version !== undefined || (enabled && !row.enabled);
      if (changed) await checkFlow(op, fields);
      const updated = await schedules.updateSchedule(db, fields);
      if (!updated) throw scheduleNotFound(namespaceId, scheduleId);
      notifier.publish(schedulesTopic);
      return create(UpdateWorkflowScheduleResponseSchema, { schedule: toProto(updated) });
    },

    async deleteWorkflowSchedule(req) {
      const op = "delete schedule";
      const namespaceId = v.namespace(op, req.namespace);
      const scheduleId = v.name(op, "schedule_id", req.scheduleId);
      if (!(await schedules.deleteSchedule(db, namespaceId, scheduleId))) {
        throw scheduleNotFound(namespaceId, scheduleId);
      }
      notifier.publish(schedulesTopic);
      return create(DeleteWorkflowScheduleResponseSchema, {});
    },
  };
}

function toProto(s: schedules.ScheduleRow): WorkflowSchedule {
  return create(WorkflowScheduleSchema, {
    scheduleId: s.schedule_id,
    namespace: s.namespace_id,
    workflowType: s.workflow_type,
    cron: s.cron,
    timezone: s.timezone,
    input: payloadOf(s.input, s.input_metadata),
    version: s.version,
    enabled: s.enabled,
    maxCatchup: s.max_catchup,
    nextFireAt: ts(s.next_fire_at),
    lastFiredAt: ts(s.last_fired_at),
    createdAt: ts(s.created_at),
    updatedAt: ts(s.updated_at),
  });
}
