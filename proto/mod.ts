/**
 * The `kagzi.v1` wire contract: protobuf-es v2 message schemas and the
 * service descriptors (`WorkflowService`, `WorkerService`,
 * `WorkflowScheduleService`, `AdminService`, `BulkOperationService`,
 * `EventService`, `HookService`, `StreamService`, `TokenService`, `RateLimitService`).
 *
 * @example Build a request message
 * ```ts
 * import { create } from "@bufbuild/protobuf";
 * import { StartWorkflowRequestSchema } from "@kagzi/proto";
 *
 * const req = create(StartWorkflowRequestSchema, { workflowType: "process-order" });
 * console.log(req.workflowType);
 * ```
 *
 * @module
 */
export * from "./gen/kagzi/v1/common_pb.ts";
export * from "./gen/kagzi/v1/workflow_pb.ts";
export * from "./gen/kagzi/v1/worker_pb.ts";
export * from "./gen/kagzi/v1/workflow_schedule_pb.ts";
export * from "./gen/kagzi/v1/admin_pb.ts";
export * from "./gen/kagzi/v1/bulk_pb.ts";
export * from "./gen/kagzi/v1/flow_pb.ts";
export * from "./gen/kagzi/v1/stream_pb.ts";
export * from "./gen/kagzi/v1/tokens_pb.ts";
export * from "./gen/kagzi/v1/events_pb.ts";
export * from "./gen/kagzi/v1/hooks_pb.ts";
export * from "./gen/kagzi/v1/rate_limit_pb.ts";
