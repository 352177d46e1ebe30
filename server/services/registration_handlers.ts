/** WorkerService handlers for a worker's life: Register, Heartbeat (lease extension), Deregister. */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeregisterResponseSchema,
  HeartbeatResponseSchema,
  RegisterResponseSchema,
  type WorkerService,
} from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import * as queue from "../store/queue.ts";
import * as workers from "../store/workers.ts";
import * as flows from "../store/flow_controls.ts";
import { type FlowConfig, flowConfigOf } from "./_flow.ts";
import * as events from "../store/events.ts";
import type { ServiceContext } from "./_context.ts";
import { retryToJson } from "./_convert.ts";
import { lease } from "./_lease.ts";
import { workerNotRegistered } from "./_not_found.ts";
import { checkRetryPolicy } from "./_retry.ts";
import * as v from "./_validate.ts";
import type { WorkerCache } from "./_worker_cache.ts";

type RegistrationHandlers = Pick<
  ServiceImpl<typeof WorkerService>,
  "register" | "heartbeat" | "deregister"
>;

/** The registration and heartbeat handlers of WorkerService. */
export function registrationHandlers(
  ctx: ServiceContext,
  known: WorkerCache,
): RegistrationHandlers {
  const { db, notifier, config } = ctx;

  /** Stores each (type, version)'s flow control (the newest registration wins; logs a change). */
  async function storeFlowControls(
    workerId: string,
    namespaceId: string,
    types: { workflow_type: string; versions: string[] }[],
    configs: (FlowConfig | undefined)[],
  ): Promise<void> {
    for (const [i, t] of types.entries()) {
      for (const version of t.versions.length ? t.versions : [""]) {
        const fc = configs[i];
        const before = fc
          ? await flows.upsertFlowControl(db, namespaceId, t.workflow_type, version, fc, workerId)
          : (await flows.flowControlsOf(db, namespaceId, t.workflow_type))
            .find((r) => r.version === version);
        if (!fc && before) await flows.deleteFlowControl(db, namespaceId, t.workflow_type, version);
        if (before && before.worker_id !== workerId) {
          ctx.log.warn(
            `flow control of "${t.workflow_type}"${version ? ` version "${version}"` : ""} ` +
              `replaced by a newer registration (newest wins)`,
            {
              namespace: namespaceId,
              previous: { workerId: before.worker_id, config: before.config },
              newest: { workerId, config: fc ?? null },
            },
          );
        }
        ctx.flowCache?.forget(namespaceId, t.workflow_type);
      }
    }
  }

  return {
    async register(req) {
      const op = "register worker";
      const namespaceId = v.namespace(op, req.namespace);
      if (req.workflowTypes.length === 0) {
        throw new InvalidArgumentError(
          "workflow_types",
          `Cannot ${op}: "workflow_types" must name at least one workflow type`,
        );
      }
      const workflowTypes = req.workflowTypes.map((t, i) => ({
        workflow_type: v.name(op, `workflow_types[${i}].workflow_type`, t.workflowType),
        versions: t.versions.map((ver) => v.name(op, `workflow_types[${i}].versions`, ver, false)),
      }));
      const flowConfigs = req.workflowTypes.map((t, i) =>
        t.flowControl && flowConfigOf(op, `workflow_types[${i}].flow_control`, t.flowControl)
      );
      // A type that declares triggers has exactly those subscriptions from now on.
      const triggers = req.workflowTypes.flatMap((t, i) =>
        t.triggers.map((tr, j) => ({
          workflowType: workflowTypes[i].workflow_type,
          event: v.name(op, `workflow_types[${i}].triggers[${j}].event`, tr.event),
        }))
      );
      if (req.maxConcurrent < 0) {
        throw new InvalidArgumentError(
          "max_concurrent",
          `Cannot ${op}: "max_concurrent" must not be negative`,
        );
      }
      if (triggers.length) {
        const declaring = [...new Set(triggers.map((t) => t.workflowType))];
        await events.setTypeTriggers(db, namespaceId, declaring, triggers);
      }
      const row = await workers.insertWorker(db, {
        namespaceId,
        workerId: crypto.randomUUID(),
        workflowTypes,
        hostname: v.clip(req.hostname, 256),
        pid: req.pid,
        sdkVersion: v.clip(req.sdkVersion, 64),
        version: v.clip(req.version, 64),
        labels: v.labels(op, req.labels),
        maxConcurrent: req.maxConcurrent,
        defaultRetryPolicy: retryToJson(
          checkRetryPolicy(op, "default_retry_policy", req.defaultRetryPolicy),
        ),
      });
      known.remember(row);
      await storeFlowControls(row.worker_id, namespaceId, workflowTypes, flowConfigs);
      return create(RegisterResponseSchema, {
        workerId: row.worker_id,
        heartbeatInterval: durationFromMs(config.heartbeatIntervalMs),
        leaseDuration: durationFromMs(config.leaseMs),
        pollTimeout: durationFromMs(config.pollTimeoutMs),
        stepsWithCompletion: true,
        stepsWithSleep: true,
        errorCauses: true,
      });
    },

    async heartbeat(req) {
      const op = "heartbeat";
      const received = performance.now();
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const row = await workers.heartbeatWorker(
        db,
        namespaceId,
        workerId,
        v.count(op, "active_count", req.activeCount, 1_000_000),
        BigInt(v.count(op, "completed_delta", req.completedDelta, 1_000_000_000)),
        BigInt(v.count(op, "failed_delta", req.failedDelta, 1_000_000_000)),
      );
      if (!row) throw workerNotRegistered(namespaceId, workerId);
      const leases = req.leases.map((l) => lease(op, l));
      // Counted up to now, before the leases are set to the database's now() + lease.
      const expiresIn = Math.floor(performance.now() - received) + config.leaseMs;
      const extended = new Set(
        leases.length
          ? await queue.extendLeases(
            db,
            namespaceId,
            workerId,
            leases.map((l) => l.runId),
            leases.map((l) => l.fence),
            config.leaseMs,
          )
          : [],
      );
      const missing = leases.filter((l) => !extended.has(l.runId)).map((l) => l.runId);
      const cancelled: string[] = [];
      const lostRuns: string[] = [];
      if (missing.length) {
        const statuses = new Map(
          (await queue.runStatuses(db, namespaceId, missing)).map((r) => [r.run_id, r.status]),
        );
        for (const id of missing) {
          (statuses.get(id) === "CANCELLED" ? cancelled : lostRuns).push(id);
        }
      }
      return create(HeartbeatResponseSchema, {
        shouldDrain: row.status === "DRAINING",
        cancelledRunIds: cancelled,
        lostRunIds: lostRuns,
        leaseExpiresIn: durationFromMs(expiresIn),
      });
    },

    async deregister(req) {
      const op = "deregister worker";
      const namespaceId = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      const released = await queue.releaseWorkerRuns(db, namespaceId, workerId);
      await workers.deregisterWorker(db, namespaceId, workerId);
      known.forget(workerId);
      ctx.dispatch.forget(namespaceId, workerId);
      if (released) notifier.publish(workTopic(namespaceId));
      return create(DeregisterResponseSchema, { released });
    },
  };
}
