/**
 * The Kagzi client alone, for browsers and any other runtime: start, inspect, list and cancel
 * runs, manage cron schedules, discover workers. Nothing in this entry's module graph uses
 * `node:*` or `Deno.*`; it speaks Connect (or gRPC-Web) over `fetch`. For native gRPC in Deno or
 * Node add `import "@kagzi/sdk/grpc"`; for workers use `@kagzi/sdk`.
 *
 * @example Start a run from a web page
 * ```ts ignore
 * import { Kagzi } from "@kagzi/sdk/client";
 *
 * const client = await Kagzi.connect("https://kagzi.example.com", { apiKey: "secret" });
 * const run = await client.start("process-order").input({ userId: 123 });
 * console.log((await client.get(run.id)).status);
 * ```
 *
 * @module
 */
export { type ConnectOptions, Kagzi, type NamespaceOption } from "./client/kagzi.ts";
export { KagziOperations } from "./client/kagzi_operations.ts";
export {
  type GetStepOptions,
  type ListWorkersOptions,
  type RunStats,
  type RunStatsBucket,
  type RunStatsOptions,
} from "./client/admin.ts";
export { ListCall } from "./client/list.ts";
export {
  type BulkActionName,
  BulkCall,
  BulkOperationHandle,
  type BulkProgress,
  type BulkProgressOptions,
} from "./client/bulk.ts";
export {
  CancelCall,
  GetCall,
  type RerunOptions,
  type ResumeOptions,
  type WorkflowRun,
} from "./client/runs.ts";
export {
  type CancelOptions,
  type ResultOptions,
  type RunHandle,
  type RunRef,
} from "./client/handle.ts";
export {
  type ListSchedulesOptions,
  type Schedule,
  ScheduleCall,
  type SchedulePage,
  type SchedulePatch,
} from "./client/schedules.ts";
export type { NamedRateLimit, NamedRateLimitOptions, RateLimitArgs } from "./client/rate_limits.ts";
export { type OnDuplicate, StartCall } from "./client/start.ts";
export type { StreamInfo, StreamReadOptions, StreamValue } from "./client/streams.ts";
export type {
  ListSignalsOptions,
  SignalInfo,
  SignalOptions,
  SignalSent,
} from "./client/signals.ts";
export type {
  RotateTokenSecretOptions,
  TokenCallOptions,
  TokenInfo,
  TokenSecretRotation,
} from "./client/tokens.ts";
export { type Duration, parseDuration } from "./duration.ts";
export {
  KagziError,
  type KagziErrorCode,
  type KagziErrorOptions,
  NonRetryableError,
  RetryAfterError,
  SignalTimeoutError,
  StepFailedError,
  TokenFailedError,
  TokenTimeoutError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from "./errors.ts";
export {
  type AnyWorkflowDefinition,
  defineWorkflow,
  type WorkflowDefinition,
} from "./workflow_def.ts";
export type { ConcurrencyKeyUse, FlowControlInfo, FlowControlRegistration } from "./client/flow.ts";
export type {
  ConcurrencyLimit,
  DebounceOptions,
  FlowControlOptions,
  RateLimitOptions,
} from "./flow_control.ts";
export {
  type AnyWorkflowRef,
  type InputOf,
  type OutputOf,
  type WorkflowRef,
  workflowRef,
} from "./workflow_ref.ts";
export type { InProcessServer, Protocol, ServerAddress } from "./_transport.ts";
/** The base of the request builders: a lazy promise that sends its request when awaited. */
export { Call } from "./_call.ts";
export {
  type Health,
  isEnded,
  isOpen,
  type ParkedInfo,
  type ServerInfo,
  type StepAttemptInfo,
  type StepRefInfo,
  type WorkerSummary,
  type Workflow,
  WORKFLOW_STATUSES,
  type WorkflowPage,
  type WorkflowStatus,
  type WorkflowWait,
} from "./types.ts";
export type {
  EmitOptions,
  EmitResult,
  EventInfo,
  EventPage,
  EventRun,
  EventSubscription,
  ListEventsOptions,
} from "./client/events.ts";
export type { CreateHookOptions, HookInfo } from "./client/hooks.ts";
export type { DefineWorkflowOptions, EventTrigger } from "./workflow_def.ts";
