/**
 * BulkOperationService: start a bulk rerun, cancel, pause or resume over a filter, follow its
 * progress, stop it. The work itself is done by the servers' bulk workers (engine/bulk.ts).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  BulkAction,
  type BulkFilter,
  BulkFilterSchema,
  type BulkOperation,
  BulkOperationSchema,
  type BulkOperationService,
  BulkStatus,
  CancelBulkOperationResponseSchema,
  GetBulkOperationResponseSchema,
  StartBulkOperationResponseSchema,
} from "@kagzi/proto";
import { InvalidArgumentError, NotFoundError, PreconditionError } from "../errors.ts";
import * as bulk from "../store/bulk.ts";
import type { RunStatus } from "../store/runs.ts";
import type { ServiceContext } from "./_context.ts";
import { statusFromProto, statusToProto, ts } from "./_convert.ts";
import { tags as checkTags } from "./_tags.ts";
import { dateOf } from "./_time.ts";
import * as v from "./_validate.ts";

const actions: Partial<Record<BulkAction, bulk.BulkAction>> = {
  [BulkAction.RERUN]: "RERUN",
  [BulkAction.CANCEL]: "CANCEL",
  [BulkAction.PAUSE]: "PAUSE",
  [BulkAction.RESUME]: "RESUME",
};

/** The statuses each action can change; a status filter outside them could match nothing. */
const actsOn: Record<bulk.BulkAction, RunStatus[]> = {
  RERUN: ["COMPLETED", "FAILED", "CANCELLED"],
  CANCEL: ["PENDING", "RUNNING", "SLEEPING", "PARKED", "PAUSED"],
  PAUSE: ["PENDING", "RUNNING", "SLEEPING"],
  RESUME: ["PAUSED"],
};

const statuses = {
  RUNNING: BulkStatus.RUNNING,
  COMPLETED: BulkStatus.COMPLETED,
  CANCELLED: BulkStatus.CANCELLED,
};

function filterOf(
  op: string,
  action: bulk.BulkAction,
  f: BulkFilter | undefined,
): bulk.BulkFilterJson {
  const out: bulk.BulkFilterJson = {};
  if (f?.status !== undefined) {
    const status = statusFromProto(f.status);
    if (!status) {
      throw new InvalidArgumentError(
        "filter.status",
        `Cannot ${op}: "filter.status" ${f.status} is not a workflow status (1-8)`,
      );
    }
    if (!actsOn[action].includes(status)) {
      throw new InvalidArgumentError(
        "filter.status",
        `Cannot ${op}: ${action.toLowerCase()} applies to ${
          actsOn[action].join(", ")
        } runs, not ${status}`,
      );
    }
    out.status = status;
  }
  const type = v.name(op, "filter.workflow_type", f?.workflowType ?? "", false);
  if (type) out.workflowType = type;
  const version = v.name(op, "filter.version", f?.version ?? "", false);
  if (version) out.version = version;
  const since = dateOf(op, "filter.since", f?.since);
  if (since) out.since = since.toISOString();
  const until = dateOf(op, "filter.until", f?.until);
  if (until) out.until = until.toISOString();
  if (since && until && until <= since) {
    throw new InvalidArgumentError(
      "filter.until",
      `Cannot ${op}: "filter.until" ${until.toISOString()} is not after "filter.since" ${since.toISOString()}`,
    );
  }
  const tags = checkTags(op, "filter.tags", f?.tags ?? {});
  if (tags) out.tags = tags;
  if (!Object.keys(out).length) {
    throw new InvalidArgumentError(
      "filter",
      `Cannot ${op}: "filter" is empty; name a status, type, version, time range or tag (a bulk operation never acts on every run of a namespace by default)`,
    );
  }
  return out;
}

function toProto(row: bulk.BulkRow): BulkOperation {
  const f = row.filter;
  return create(BulkOperationSchema, {
    operationId: row.operation_id,
    namespace: row.namespace_id,
    action: BulkAction[row.action],
    filter: create(BulkFilterSchema, {
      status: f.status ? statusToProto(f.status) : undefined,
      workflowType: f.workflowType ?? "",
      version: f.version ?? "",
      since: f.since ? ts(new Date(f.since)) : undefined,
      until: f.until ? ts(new Date(f.until)) : undefined,
      tags: f.tags ?? {},
    }),
    status: statuses[row.status],
    total: BigInt(row.total),
    done: BigInt(row.done),
    acted: BigInt(row.acted),
    skipped: BigInt(row.skipped),
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
    finishedAt: ts(row.finished_at),
    reason: row.reason,
  });
}

function operationId(op: string, value: string): string {
  return v.runId(op, value, "operation_id");
}

function notFound(namespaceId: string, id: string): NotFoundError {
  return new NotFoundError(
    "bulk_operation",
    id,
    `Bulk operation "${id}" was not found in namespace "${namespaceId}"`,
  );
}

/** The BulkOperationService handlers. */
export function bulkService(ctx: ServiceContext): ServiceImpl<typeof BulkOperationService> {
  const { db } = ctx;
  return {
    async startBulkOperation(req) {
      const op = "start bulk operation";
      const namespaceId = v.namespace(op, req.namespace);
      const action = actions[req.action];
      if (!action) {
        throw new InvalidArgumentError(
          "action",
          `Cannot ${op}: "action" ${req.action} is not a bulk action (1 rerun, 2 cancel, 3 pause, 4 resume)`,
        );
      }
      const filter = filterOf(op, action, req.filter);
      const reason = v.clip(req.reason, 1024);
      if (!ctx.bulk) {
        throw new PreconditionError(
          "server",
          "serverless",
          `Cannot ${op}: this server runs in serverless mode, where nothing works a bulk operation; start it on a long-running server`,
        );
      }
      const row = await bulk.createOperation(
        db,
        namespaceId,
        crypto.randomUUID(),
        action,
        filter,
        reason,
      );
      ctx.bulk.poke();
      return create(StartBulkOperationResponseSchema, { operation: toProto(row) });
    },

    async getBulkOperation(req) {
      const op = "get bulk operation";
      const namespaceId = v.namespace(op, req.namespace);
      const id = operationId(op, req.operationId);
      const row = await bulk.getOperation(db, namespaceId, id);
      if (!row) throw notFound(namespaceId, id);
      return create(GetBulkOperationResponseSchema, { operation: toProto(row) });
    },

    async cancelBulkOperation(req) {
      const op = "cancel bulk operation";
      const namespaceId = v.namespace(op, req.namespace);
      const id = operationId(op, req.operationId);
      const row = await bulk.cancelOperation(db, namespaceId, id) ??
        await bulk.getOperation(db, namespaceId, id);
      if (!row) throw notFound(namespaceId, id);
      if (row.status === "COMPLETED") {
        throw new PreconditionError(
          "bulk_operation",
          id,
          `Cannot ${op}: bulk operation "${id}" already COMPLETED`,
        );
      }
      return create(CancelBulkOperationResponseSchema, { operation: toProto(row) });
    },
  };
}
