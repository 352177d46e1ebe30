/**
 * WorkerService's Report: many step outputs and run completions in one call, each item checked
 * and answered like its single call (CompleteStep, CompleteWorkflow). The items run at once, so
 * their writes share one commit per kind (group commit); one bad item refuses only itself.
 * A Report that asks for runs (`max_tasks`, the slots its run completions free) is answered with
 * runs claimed at once, so a busy worker needs no PollTask between one run and the next.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ReportResponseSchema, type Task, type WorkerService } from "@kagzi/proto";
import { InvalidArgumentError, toErrorDetail } from "../errors.ts";
import type { PollClaims } from "./_claims.ts";
import type { ServiceContext } from "./_context.ts";
import { checkReportItem } from "./_message_values.ts";
import { claimNow } from "./_tasks.ts";
import type { WorkerCache } from "./_worker_cache.ts";
import * as v from "./_validate.ts";
import type { RunEndHandlers } from "./run_end_handlers.ts";
import type { StepHandlers } from "./step_handlers.ts";

const maxReportItems = 1000;

type ReportHandlers = Pick<ServiceImpl<typeof WorkerService>, "report">;

/** The Report handler, over the single calls its items stand for. */
export function reportHandlers(
  ctx: ServiceContext,
  workers: WorkerCache,
  claims: PollClaims,
  single: Pick<StepHandlers, "completeStep"> & Pick<RunEndHandlers, "completeWorkflow">,
): ReportHandlers {
  return {
    async report(req, call) {
      const op = "report";
      const received = performance.now();
      const namespace = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      v.batchSize(op, "items", req.items.length, maxReportItems);
      const maxTasks = v.count(op, "max_tasks", req.maxTasks, 2 ** 31 - 1);
      // Claimed beside the items' writes: other runs, so neither waits for the other.
      const tasks = maxTasks === 0 ? Promise.resolve([]) : claimFor(maxTasks).catch((err) => {
        // The outcomes stand: the worker polls for the slots instead.
        ctx.log.warn("Report: claiming runs for the worker failed", err);
        return [] as Task[];
      });
      async function claimFor(limit: number): Promise<Task[]> {
        const info = await workers.get(op, namespace, workerId);
        return await claimNow(ctx, claims, {
          namespaceId: namespace,
          workerId,
          info,
          limit,
          received,
          signal: call.signal,
          url: call.url,
        });
      }
      const results = await Promise.all(req.items.map(async (item, i) => {
        const field = item.item.case === "completeStep"
          ? `items[${i}].complete_step`
          : `items[${i}].complete_workflow`;
        try {
          checkReportItem(item, i);
          const inner = item.item.value;
          if (!inner) {
            throw new InvalidArgumentError(
              `items[${i}]`,
              `Cannot ${op}: "items[${i}]" must hold complete_step or complete_workflow`,
            );
          }
          if (
            (inner.namespace && inner.namespace !== req.namespace) ||
            (inner.workerId && inner.workerId !== req.workerId)
          ) {
            const name = inner.namespace && inner.namespace !== req.namespace
              ? "namespace"
              : "worker_id";
            throw new InvalidArgumentError(
              `${field}.${name}`,
              `Cannot ${op}: "${field}.${name}" differs from the report's "${name}"`,
            );
          }
          return item.item.case === "completeStep"
            ? {
              case: "completeStep" as const,
              value: await single.completeStep({ ...item.item.value, namespace, workerId }),
            }
            : {
              case: "completeWorkflow" as const,
              value: await single.completeWorkflow({ ...item.item.value!, namespace, workerId }),
            };
        } catch (err) {
          const detail = toErrorDetail(err, (msg, e) => ctx.log.error(`Report: ${msg}`, e));
          if (err instanceof InvalidArgumentError && !detail.subject.startsWith("items[")) {
            // Name the field within the report.
            detail.subject = `${field}.${detail.subject}`;
            detail.message = `${field}: ${detail.message}`;
          }
          return { case: "error" as const, value: detail };
        }
      }));
      return create(ReportResponseSchema, {
        results: results.map((result) => ({ result })),
        tasks: await tasks,
      });
    },
  };
}
