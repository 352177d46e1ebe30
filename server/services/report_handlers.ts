/**
 * WorkerService's Report: many step outputs and run completions in one call, each item checked
 * and answered like its single call (CompleteStep, CompleteWorkflow). The items run at once, so
 * their writes share one commit per kind (group commit); one bad item refuses only itself.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ReportResponseSchema, type WorkerService } from "@kagzi/proto";
import { InvalidArgumentError, toErrorDetail } from "../errors.ts";
import type { ServiceContext } from "./_context.ts";
import { checkReportItem } from "./_message_values.ts";
import * as v from "./_validate.ts";
import type { RunEndHandlers } from "./run_end_handlers.ts";
import type { StepHandlers } from "./step_handlers.ts";

const maxReportItems = 1000;

type ReportHandlers = Pick<ServiceImpl<typeof WorkerService>, "report">;

/** The Report handler, over the single calls its items stand for. */
export function reportHandlers(
  ctx: ServiceContext,
  single: Pick<StepHandlers, "completeStep"> & Pick<RunEndHandlers, "completeWorkflow">,
): ReportHandlers {
  return {
    async report(req) {
      const op = "report";
      const namespace = v.namespace(op, req.namespace);
      const workerId = v.runId(op, req.workerId, "worker_id");
      v.batchSize(op, "items", req.items.length, maxReportItems);
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
      return create(ReportResponseSchema, { results: results.map((result) => ({ result })) });
    },
  };
}
