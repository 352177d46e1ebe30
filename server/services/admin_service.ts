/** AdminService: health, server information and discovery. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type AdminService,
  DefaultVersionSchema,
  DrainWorkerResponseSchema,
  GetRunStatsResponseSchema,
  GetServerInfoResponseSchema,
  GetStepResponseSchema,
  GetWorkerResponseSchema,
  HealthCheckResponseSchema,
  ListStepsResponseSchema,
  ListWorkersResponseSchema,
  SetDefaultVersionResponseSchema,
  StepKind,
  WorkerHealth,
  type WorkerInfo,
  WorkerInfoSchema,
  WorkerStatus,
} from "@kagzi/proto";
import { InvalidArgumentError, NotFoundError } from "../errors.ts";
import * as runStats from "../store/run_stats.ts";
import * as steps from "../store/steps.ts";
import * as versions from "../store/versions.ts";
import * as workers from "../store/workers.ts";
import { ts } from "./_convert.ts";
import { stepAttemptToProto } from "./_steps.ts";
import { API_VERSION, SERVER_VERSION } from "../version.ts";
import { workerNotFound } from "./_not_found.ts";
import type { ServiceContext } from "./_context.ts";
import * as v from "./_validate.ts";
import { flowHandlers } from "./flow_handlers.ts";

/** What GetServerInfo lists as supported. */
export const features = [
  "connect",
  "grpc-web",
  "grpc",
  "idempotent-start",
  "cancellation",
  "long-poll-result",
  "namespaces",
  "versioning",
  "schedules",
  "durable-retries",
];

/** The AdminService handlers. */
export function adminService(ctx: ServiceContext): ServiceImpl<typeof AdminService> {
  const { db, config } = ctx;
  const workerToProto = (w: workers.WorkerRow): WorkerInfo =>
    create(WorkerInfoSchema, {
      workerId: w.worker_id,
      namespace: w.namespace_id,
      workflowTypes: w.workflow_types.map((t) => ({
        workflowType: t.workflow_type,
        versions: t.versions,
      })),
      hostname: w.hostname,
      pid: w.pid,
      sdkVersion: w.sdk_version,
      version: w.version,
      labels: w.labels,
      maxConcurrent: w.max_concurrent,
      status: WorkerStatus[w.status],
      health: health(w, config.heartbeatIntervalMs),
      activeCount: w.active_count,
      completedCount: BigInt(w.completed_count),
      failedCount: BigInt(w.failed_count),
      registeredAt: ts(w.registered_at),
      lastHeartbeatAt: ts(w.last_heartbeat_at),
    });
  const requireWorker = async (namespaceId: string, id: string) => {
    const row = await workers.getWorker(db, namespaceId, id);
    if (!row) {
      throw workerNotFound(namespaceId, id);
    }
    return row;
  };
  return {
    ...flowHandlers(ctx),
    async listWorkers(req) {
      const op = "list workers";
      const namespaceId = v.namespace(op, req.namespace);
      let status: string | null = null;
      if (req.status !== undefined) {
        status = WorkerStatus[req.status] ?? null;
        if (!status || req.status === WorkerStatus.UNSPECIFIED) {
          throw new InvalidArgumentError(
            "status",
            `Cannot ${op}: "status" ${req.status} is not a worker status (1-3)`,
          );
        }
      }
      const size = v.pageSize(op, req.page?.pageSize ?? 0);
      const after = v.cursorKey(op, req.page?.pageToken ?? "", uuidPattern);
      const rows = await workers.listWorkers(
        db,
        namespaceId,
        status,
        v.name(op, "workflow_type", req.workflowType, false),
        after,
        size + 1,
      );
      const { items, page } = v.pageOf(rows, size, (w) => w.worker_id);
      return create(ListWorkersResponseSchema, { workers: items.map(workerToProto), page });
    },

    async getWorker(req) {
      const op = "get worker";
      const namespaceId = v.namespace(op, req.namespace);
      const id = v.runId(op, req.workerId, "worker_id");
      const row = await requireWorker(namespaceId, id);
      return create(GetWorkerResponseSchema, { worker: workerToProto(row) });
    },

    async drainWorker(req) {
      const op = "drain worker";
      const namespaceId = v.namespace(op, req.namespace);
      const id = v.runId(op, req.workerId, "worker_id");
      const row = await requireWorker(namespaceId, id);
      if (row.status === "ONLINE") await workers.drainWorker(db, namespaceId, id);
      const after = await workers.getWorker(db, namespaceId, id);
      return create(DrainWorkerResponseSchema, { worker: workerToProto(after ?? row) });
    },

    async getStep(req) {
      const op = "get step";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      if (!req.step) throw new InvalidArgumentError("step", `Cannot ${op}: "step" is required`);
      const name = v.name(op, "step.name", req.step.name);
      const kind = req.step.kind === StepKind.SLEEP ? "SLEEP" : "FUNCTION";
      const rows = await steps.stepAttempts(
        db,
        namespaceId,
        runId,
        kind,
        name,
        Math.max(1, req.step.occurrence),
      );
      if (rows.length === 0) {
        throw new NotFoundError(
          "step",
          name,
          `Step "${name}" #${Math.max(1, req.step.occurrence)} of run "${runId}" was not found`,
        );
      }
      return create(GetStepResponseSchema, { attempts: rows.map(stepAttemptToProto) });
    },

    async listSteps(req) {
      const op = "list steps";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const size = v.pageSize(op, req.page?.pageSize ?? 0, 1000, 1000);
      const token = req.page?.pageToken ?? "";
      const offset = Number(v.numericCursor(op, token, BigInt(Number.MAX_SAFE_INTEGER)) ?? 0n);
      const rows = await steps.listStepAttempts(db, namespaceId, runId, offset, size + 1);
      const { items, page } = v.pageOf(rows, size, () => String(offset + size));
      return create(ListStepsResponseSchema, { attempts: items.map(stepAttemptToProto), page });
    },

    async healthCheck() {
      // Answers within about a second whatever the database does (store/health.ts).
      const state = await ctx.health.check();
      return create(HealthCheckResponseSchema, {
        healthy: state.databaseOk && state.migrated,
        databaseOk: state.databaseOk,
        message: state.message,
        checkedAt: timestampFromDate(state.checkedAt),
      });
    },

    async getServerInfo(req) {
      const namespaceId = v.namespace("get server info", req.namespace);
      const defaults = await versions.listDefaultVersions(db, namespaceId);
      return create(GetServerInfoResponseSchema, {
        version: SERVER_VERSION,
        apiVersion: API_VERSION,
        features,
        database: ctx.database,
        defaultVersions: defaults.map((d) =>
          create(DefaultVersionSchema, { workflowType: d.workflow_type, version: d.version })
        ),
      });
    },

    async getRunStats(req) {
      const op = "get run stats";
      const namespaceId = v.namespace(op, req.namespace);
      const minutes = req.minutes === 0 ? 60 : req.minutes;
      if (minutes < 1 || minutes > 1440) {
        throw new InvalidArgumentError(
          "minutes",
          `Cannot ${op}: "minutes" ${minutes} must be from 1 to 1440 (0 means 60)`,
        );
      }
      const window = await runStats.statsWindow(db, minutes);
      const rows = await runStats.runStats(db, namespaceId, window.since);
      return create(GetRunStatsResponseSchema, {
        buckets: rows.map((r) => ({
          workflowType: r.workflow_type,
          minute: ts(r.minute),
          begun: r.begun,
          completed: r.completed,
          failed: r.failed,
          cancelled: r.cancelled,
        })),
        since: ts(window.since),
        until: ts(window.until),
      });
    },

    async setDefaultVersion(req) {
      const op = "set default version";
      const namespaceId = v.namespace(op, req.namespace);
      const workflowType = v.name(op, "workflow_type", req.workflowType);
      const version = v.name(op, "version", req.version);
      await versions.setDefaultVersion(db, namespaceId, workflowType, version);
      return create(SetDefaultVersionResponseSchema, {});
    },
  };
}

/**
 * Health from heartbeat age: a heartbeat missed is DEGRADED, several UNHEALTHY;
 * the ticker marks the worker OFFLINE after `offlineAfterBeats` intervals (engine/ticker.ts).
 */
function health(w: workers.WorkerRow, intervalMs: number): WorkerHealth {
  if (w.status === "OFFLINE") return WorkerHealth.OFFLINE;
  const beats = w.heartbeat_age_ms / intervalMs;
  if (beats <= 1.5) return WorkerHealth.HEALTHY;
  if (beats <= 3) return WorkerHealth.DEGRADED;
  return WorkerHealth.UNHEALTHY;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
