/**
 * Typed workflow definitions: `defineWorkflow` for the code that runs a workflow. Callers that
 * must not import that code use `workflowRef` (`workflow_ref.ts`). Both carry the input and
 * output types to `client.start(...)` and `ctx.child(...)`.
 */
import type { Context } from "./context.ts";
import type { WorkflowRef } from "./workflow_ref.ts";
import { type FlowControlOptions, flowControlToProto } from "./flow_control.ts";

/** An event that starts a run of the workflow: `{ event: "order.created" }`. */
export interface EventTrigger {
  /** The event's name, as given to `client.emit(name, data)`. */
  readonly event: string;
}

/**
 * Options of {@linkcode defineWorkflow}, sent when a worker registers the workflow: its flow
 * control (concurrency, rate limit, debounce, priority) and the events that start it.
 */
export interface DefineWorkflowOptions extends FlowControlOptions {
  /**
   * Events that start a run of this workflow, with the event's data as input: each
   * `client.emit(name, …)` starts one run of every type subscribed to `name` (once per event
   * id). Registering a type with triggers sets its subscriptions to them. @default []
   */
  triggers?: readonly EventTrigger[];
}

/** A workflow function with its type name; a worker runs it, callers start it typed. */
export interface WorkflowDefinition<I = unknown, O = unknown> extends WorkflowRef<I, O> {
  /** The workflow function. */
  readonly fn: (ctx: Context, input: I) => Promise<O>;
  /** Its flow control (concurrency, rate limit, debounce, priority), sent at Register. */
  readonly flowControl?: FlowControlOptions;
  /** The events that start it. */
  readonly triggers?: readonly EventTrigger[];
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
  options: DefineWorkflowOptions = {},
): WorkflowDefinition<I, O> {
  if (typeof type !== "string" || type === "") {
    throw new TypeError("defineWorkflow: the workflow type must be a non-empty string");
  }
  if (typeof fn !== "function") {
    throw new TypeError(`defineWorkflow("${type}"): the workflow must be a function`);
  }
  const triggers = checkTriggers(`defineWorkflow("${type}")`, options.triggers);
  flowControlToProto(type, options);
  const { concurrency, rateLimit, debounce, priority } = options;
  const flowControl = [concurrency, rateLimit, debounce, priority].some((x) => x !== undefined)
    ? { flowControl: { concurrency, rateLimit, debounce, priority } }
    : {};
  return Object.freeze({ type, fn, ...flowControl, ...(triggers.length ? { triggers } : {}) });
}

/** The triggers as a frozen list; a TypeError names a malformed one. */
export function checkTriggers(
  where: string,
  triggers: readonly EventTrigger[] | undefined,
): readonly EventTrigger[] {
  if (triggers === undefined) return [];
  if (!Array.isArray(triggers)) throw new TypeError(`${where}: "triggers" must be an array`);
  return Object.freeze(triggers.map((t, i) => {
    if (typeof t?.event !== "string" || t.event === "") {
      throw new TypeError(`${where}: triggers[${i}].event must be a non-empty string`);
    }
    return Object.freeze({ event: t.event });
  }));
}
