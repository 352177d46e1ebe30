/**
 * The Kagzi SDK: start and inspect durable workflow runs from Deno, Node or a
 * browser, and run workflows in a worker. Browsers import the client alone from
 * `@kagzi/sdk/client`; this entry adds the worker and native gRPC (`@kagzi/sdk/grpc`).
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
import "./grpc.ts";

export {
  type AnyWorkflowDefinition,
  type AnyWorkflowRef,
  type BulkActionName,
  BulkCall,
  BulkOperationHandle,
  type BulkProgress,
  type BulkProgressOptions,
  Call,
  CancelCall,
  type CancelOptions,
  type ConnectOptions,
  defineWorkflow,
  type Duration,
  GetCall,
  type GetStepOptions,
  type Health,
  type InProcessServer,
  type InputOf,
  isEnded,
  isOpen,
  Kagzi,
  KagziError,
  type KagziErrorCode,
  type KagziErrorOptions,
  ListCall,
  type ListSchedulesOptions,
  type ListSignalsOptions,
  type ListWorkersOptions,
  type NamedRateLimit,
  type NamedRateLimitOptions,
  type NamespaceOption,
  NonRetryableError,
  type OnDuplicate,
  type OutputOf,
  type ParkedInfo,
  parseDuration,
  type Protocol,
  type RateLimitArgs,
  type RerunOptions,
  type ResultOptions,
  type ResumeOptions,
  RetryAfterError,
  type RotateTokenSecretOptions,
  type RunHandle,
  type RunRef,
  type Schedule,
  ScheduleCall,
  type SchedulePage,
  type SchedulePatch,
  type ServerAddress,
  type ServerInfo,
  type SignalInfo,
  type SignalOptions,
  type SignalSent,
  SignalTimeoutError,
  StartCall,
  type StepAttemptInfo,
  StepFailedError,
  type StepRefInfo,
  type StreamInfo,
  type StreamReadOptions,
  type StreamValue,
  type TokenCallOptions,
  TokenFailedError,
  type TokenInfo,
  type TokenSecretRotation,
  TokenTimeoutError,
  type WorkerSummary,
  type Workflow,
  WORKFLOW_STATUSES,
  WorkflowCancelledError,
  type WorkflowDefinition,
  WorkflowFailedError,
  type WorkflowPage,
  type WorkflowRef,
  workflowRef,
  type WorkflowRun,
  type WorkflowStatus,
  type WorkflowWait,
} from "./client.ts";
export type {
  AnyOptions,
  AnyResult,
  ChildBuilder,
  ChildHandle,
  Context,
  SignalWaitOptions,
  StepBuilder,
  StepFn,
  Stream,
  Token,
  TokenOptions,
  WorkflowFn,
} from "./context.ts";
export type { ConcurrencyKeyUse, FlowControlInfo, FlowControlRegistration } from "./client/flow.ts";
export type {
  ConcurrencyLimit,
  DebounceOptions,
  FlowControlOptions,
  RateLimitOptions,
} from "./flow_control.ts";
export { Retry } from "./retry.ts";
export { Worker, WorkerBuilder, type WorkerStats, type WorkflowOptions } from "./worker.ts";
export { consoleLogger, type Logger, type LogLevel } from "./logger.ts";
export type {
  CreateHookOptions,
  DefineWorkflowOptions,
  EmitOptions,
  EmitResult,
  EventInfo,
  EventPage,
  EventRun,
  EventSubscription,
  EventTrigger,
  HookInfo,
  ListEventsOptions,
} from "./client.ts";
