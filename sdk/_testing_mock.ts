/**
 * `TestEnv.mockStep`: the workflows a test environment registers see a context whose
 * `ctx.step(name).run(fn)` runs the mock registered for `name`, when there is one, instead of
 * `fn`. The step is still a real step: stored, retried and replayed by the engine.
 */
import type { Context, StepBuilder, StepFn, WorkflowFn } from "./context.ts";

/** Mocks by step name. */
export type StepMocks = Map<string, StepFn<unknown>>;

/** `fn` with its context's steps replaced by `mocks` (read when each step runs). */
export function withMocks(fn: WorkflowFn, mocks: StepMocks): WorkflowFn {
  return (ctx: Context, input: unknown) => fn(mockedContext(ctx, mocks), input);
}

function mockedContext(ctx: Context, mocks: StepMocks): Context {
  const step = (name: string): StepBuilder => {
    const inner = ctx.step(name);
    const builder: StepBuilder = {
      retry(policy) {
        inner.retry(policy);
        return builder;
      },
      timeout(d) {
        inner.timeout(d);
        return builder;
      },
      rateLimit(name) {
        inner.rateLimit(name);
        return builder;
      },
      run: <T>(fn: StepFn<T>): Promise<T> =>
        inner.run((mocks.get(name) as StepFn<T> | undefined) ?? fn),
    };
    return builder;
  };
  // Everything else is the context's own (its members are bound, so they work from here).
  return Object.create(ctx, { step: { value: step, enumerable: true } });
}
