/**
 * Typed workflow definitions: `defineWorkflow` for the code that runs a workflow, and
 * `workflowRef` for callers that must not import that code (a browser, another service).
 * Both carry the input and output types to `client.start(...)` and `ctx.child(...)`.
 */
import type { Context } from "./context.ts";

/** A workflow type with its input and output types (no runtime import of its code). */
export interface WorkflowRef<I = unknown, O = unknown> {
  /** The workflow type's name. */
  readonly type: string;
  /** Carries the input and output types; never set at runtime. */
  readonly __types?: { input: (input: I) => void; output: O };
}

/** A workflow function with its type name; a worker runs it, callers start it typed. */
export interface WorkflowDefinition<I = unknown, O = unknown> extends WorkflowRef<I, O> {
  /** The workflow function. */
  readonly fn: (ctx: Context, input: I) => Promise<O>;
}

/** Any workflow reference, whatever its types. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflowRef = WorkflowRef<any, any>;
/** Any workflow definition, whatever its types. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflowDefinition = WorkflowDefinition<any, any>;

/** The input type of a workflow reference or definition. */
// deno-lint-ignore no-explicit-any
export type InputOf<W> = W extends WorkflowRef<infer I, any> ? I : unknown;
/** The output type of a workflow reference or definition. */
// deno-lint-ignore no-explicit-any
export type OutputOf<W> = W extends WorkflowRef<any, infer O> ? O : unknown;

/**
 * Defines a workflow: `defineWorkflow("process-order", async (ctx, input: OrderInput) => …)`.
 * Register it with `Worker.builder(…).workflows([processOrder])`; start it with
 * `client.start(processOrder).input(…)`, whose `result()` is typed by the function's output.
 */
export function defineWorkflow<I, O>(
  type: string,
  fn: (ctx: Context, input: I) => Promise<O>,
): WorkflowDefinition<I, O> {
  if (typeof type !== "string" || type === "") {
    throw new TypeError("defineWorkflow: the workflow type must be a non-empty string");
  }
  if (typeof fn !== "function") {
    throw new TypeError(`defineWorkflow("${type}"): the workflow must be a function`);
  }
  return Object.freeze({ type, fn });
}

/** A typed reference to a workflow type defined elsewhere: `workflowRef<In, Out>("type")`. */
export function workflowRef<I = unknown, O = unknown>(type: string): WorkflowRef<I, O> {
  if (typeof type !== "string" || type === "") {
    throw new TypeError("workflowRef: the workflow type must be a non-empty string");
  }
  return Object.freeze({ type });
}
