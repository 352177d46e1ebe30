/**
 * Workflow references: a workflow type's name with its input and output types, for callers
 * that must not import the workflow's code (a browser, another service). `context.ts` and
 * `workflow_def.ts` both build on these types, so they live apart from either.
 */

/** A workflow type with its input and output types (no runtime import of its code). */
export interface WorkflowRef<I = unknown, O = unknown> {
  /** The workflow type's name. */
  readonly type: string;
  /** Carries the input and output types; never set at runtime. */
  readonly __types?: { input: (input: I) => void; output: O };
}

/** Any workflow reference, whatever its types. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflowRef = WorkflowRef<any, any>;

/** The input type of a workflow reference or definition. */
// deno-lint-ignore no-explicit-any
export type InputOf<W> = W extends WorkflowRef<infer I, any> ? I : unknown;
/** The output type of a workflow reference or definition. */
// deno-lint-ignore no-explicit-any
export type OutputOf<W> = W extends WorkflowRef<any, infer O> ? O : unknown;

/** A typed reference to a workflow type defined elsewhere: `workflowRef<In, Out>("type")`. */
export function workflowRef<I = unknown, O = unknown>(type: string): WorkflowRef<I, O> {
  if (typeof type !== "string" || type === "") {
    throw new TypeError("workflowRef: the workflow type must be a non-empty string");
  }
  return Object.freeze({ type });
}
