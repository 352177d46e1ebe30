/**
 * WorkflowService's StartWorkflows: many starts of one namespace in one call, each item checked
 * and answered as its own StartWorkflow would be (the same error, field names and all, so the
 * SDK can send a client's concurrent starts together unseen). The items run at once, so their
 * inserts share the starts' group commit; one bad item refuses only itself.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type StartWorkflowRequest,
  StartWorkflowRequestSchema,
  type StartWorkflowResponseSchema,
  StartWorkflowsResponseSchema,
  type WorkflowService,
} from "@kagzi/proto";
import { InvalidArgumentError, toErrorDetail } from "../errors.ts";
import type { ServiceContext } from "./_context.ts";
import { badFieldError, findBadValue } from "./_message_values.ts";
import * as v from "./_validate.ts";

/** The most starts in one StartWorkflows. */
export const maxStartItems = 1000;

type Single = (
  req: StartWorkflowRequest,
  call: HandlerContext,
) =>
  | MessageInitShape<typeof StartWorkflowResponseSchema>
  | Promise<MessageInitShape<typeof StartWorkflowResponseSchema>>;

/** The StartWorkflows handler, over the single start its items stand for. */
export function startBatchHandler(
  ctx: ServiceContext,
  single: Single,
): Pick<ServiceImpl<typeof WorkflowService>, "startWorkflows"> {
  const log = (msg: string, e: unknown) => ctx.log.error(`StartWorkflows: ${msg}`, e);
  return {
    async startWorkflows(req, call) {
      const op = "start workflows";
      const namespace = v.namespace(op, req.namespace);
      v.batchSize(op, "items", req.items.length, maxStartItems, 1);
      const results = await Promise.all(req.items.map(async (item) => {
        try {
          // Checked as the transport checks a StartWorkflow, so the item fails as one would.
          const bad = findBadValue(StartWorkflowRequestSchema, item);
          if (bad) throw badFieldError("StartWorkflow", bad);
          if (item.namespace && item.namespace !== req.namespace) {
            throw new InvalidArgumentError(
              "namespace",
              `Cannot ${op}: an item's "namespace" differs from the request's "namespace"`,
            );
          }
          return {
            case: "started" as const,
            value: await single({ ...item, namespace }, call),
          };
        } catch (err) {
          return { case: "error" as const, value: toErrorDetail(err, log) };
        }
      }));
      return create(StartWorkflowsResponseSchema, {
        results: results.map((result) => ({ result })),
      });
    },
  };
}
