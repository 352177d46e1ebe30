/**
 * The Kagzi SDK: start and inspect durable workflow runs from Deno, Node or a
 * browser, and run workflows in a worker.
 *
 * @example Start a run and wait for its result
 * ```ts ignore
 * import { Kagzi } from "@kagzi/sdk";
 *
 * const client = await Kagzi.connect("http://localhost:50051");
 * const run = await client.start("process-order").input({ userId: 123 }).id("order-123");
 * console.log(run.id, run.alreadyExists, await run.result());
 * ```
 *
 * @module
 */
export {
  CancelCall,
  type ConnectOptions,
  GetCall,
  type GetStepOptions,
  Kagzi,
  ListCall,
  type ListSchedulesOptions,
  type ListWorkersOptions,
  type ResultOptions,
  StartCall,
  type WorkflowRun,
} from "./client.ts";
export type {
  ChildBuilder,
  ChildHandle,
  Context,
  SignalWaitOptions,
  StepBuilder,
  StepFn,
  WorkflowFn,
} from "./context.ts";
export {
  type AnyWorkflowDefinition,
  type AnyWorkflowRef,
  defineWorkflow,
  type InputOf,
  type OutputOf,
  type WorkflowDefinition,
  type WorkflowRef,
  workflowRef,
} from "./workflow_def.ts";
export { type Duration, parseDuration } from "./duration.ts";
export { Retry } from "./retry.ts";
export { type Schedule, ScheduleCall, type SchedulePage, type SchedulePatch } from "./schedules.ts";
export { Worker, WorkerBuilder, type WorkerStats, type WorkflowOptions } from "./worker.ts";
export {
  KagziError,
  type KagziErrorCode,
  type KagziErrorOptions,
  NonRetryableError,
  RetryAfterError,
  SignalTimeoutError,
  StepFailedError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "./errors.ts";
export type { Protocol } from "./_transport.ts";
/** The base of the request builders: a lazy promise that sends its request when awaited. */
export { Call } from "./_call.ts";
export type {
  Health,
  ServerInfo,
  StepAttemptInfo,
  WorkerSummary,
  Workflow,
  WorkflowPage,
  WorkflowStatus,
} from "./types.ts";
