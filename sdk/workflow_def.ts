/**
 * Typed workflow definitions: `defineWorkflow` for the code that runs a workflow. Callers that
 * must not import that code use `workflowRef` (`workflow_ref.ts`). Both carry the input and
 * output types to `client.start(...)` and `ctx.child(...)`.
 */
import type { Context } from "./context.ts";
import type { WorkflowRef } from "./workflow_ref.ts";
import { type FlowControlOptions, flowControlToProto } from "./flow_control.ts";

/** A workflow function with its type name; a worker runs it, callers start it typed. */
export interface WorkflowDefinition<I = unknown, O = unknown> extends WorkflowRef<I, O> {
  /** The workflow function. */
  readonly fn: (ctx: Context, input: I) => Promise<O>;
  /** Its flow control (concurrency, rate limit, debounce, priority), sent at Register. */
  readonly flowControl?: FlowControlOptions;
}

/** Any workflow definition, whatever its types. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflowDefinition = WorkflowDefinition<any, any>;

/**
 * Defines a workflow: `defineWorkflow("process-order", async (ctx, input: OrderInput) => …)`.
 * Register it with `Worker.builder(…).workflows([processOrder])`; start it with
 * `client.start(processOrder).input(…)`, whose `result()` is typed by the function's output.
 * `options` declares its flow control (checked here; the server checks it again at Register).
 */
export function defineWorkflow<I, O>(
  type: string,
  fn: (ctx: Context, input: I) => Promise<O>,
  options?: FlowControlOptions,
): WorkflowDefinition<I, O> {
  if (typeof type !== "string" || type === "") {
    throw new TypeError("defineWorkflow: the workflow type must be a non-empty string");
  }
  if (typeof fn !== "function") {
    throw new TypeError(`defineWorkflow("${type}"): the workflow must be a function`);
  }
  if (options === undefined) return Object.freeze({ type, fn });
  flowControlToProto(type, options);
  const { concurrency, rateLimit, debounce, priority } = options;
  return Object.freeze({ type, fn, flowControl: { concurrency, rateLimit, debounce, priority } });
}
