/**
 * OpenTelemetry spans of the SDK, through `@opentelemetry/api` (Deno's built-in
 * support with `OTEL_DENO=true`, or any SDK a Node program registers). A start
 * is a `kagzi.start <type>` span whose W3C `traceparent` the server stores with
 * the run; each execution of the run is a `kagzi.run <type>` span under it and
 * each step attempt a `kagzi.step <name>` span under that, with sleeps and
 * suspensions as events. With no tracer provider every span is a no-op.
 */
import {
  type Attributes,
  type Context as OtelContext,
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { SDK_VERSION } from "./version.ts";

const tracer = () => trace.getTracer("kagzi-sdk", SDK_VERSION);

/** The W3C `traceparent` of a span, "" when it has no valid context. */
export function traceparentOf(span: Span): string {
  const c = span.spanContext();
  if (!isSpanContextValid(c)) return "";
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** The context continuing a W3C `traceparent`; the root context when there is none. */
export function contextOf(traceparent: string): OtelContext {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent);
  if (!m) return ROOT_CONTEXT;
  const spanContext = { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16) & 1 };
  if (!isSpanContextValid(spanContext)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { ...spanContext, isRemote: true });
}

/**
 * Runs `send` in a `kagzi.start <type>` span, giving it the span's traceparent
 * ("" when not tracing); `describe` adds attributes from the answer.
 */
export function traceStart<T>(
  type: string,
  namespace: string,
  send: (traceparent: string) => Promise<T>,
  describe: (res: T) => Attributes,
): Promise<T> {
  return tracer().startActiveSpan(`kagzi.start ${type}`, {
    kind: SpanKind.PRODUCER,
    attributes: { "kagzi.namespace": namespace, "kagzi.workflow_type": type },
  }, async (span) => {
    try {
      const res = await send(traceparentOf(span));
      if (span.isRecording()) span.setAttributes(describe(res));
      return res;
    } catch (err) {
      fail(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** What a run span needs to know about its task. */
export interface TracedTask {
  runId: string;
  workflowId: string;
  workflowType: string;
  attempt: number;
  traceparent: string;
}

/** The span of one execution of a run, parent of its step spans. */
export class RunTrace {
  readonly #span: Span;
  readonly #context: OtelContext;
  readonly #attributes: Attributes;

  /** Starts `kagzi.run <type>` as a child of the start that created the run. */
  constructor(task: TracedTask, namespace: string) {
    this.#attributes = {
      "kagzi.run_id": task.runId,
      "kagzi.namespace": namespace,
      "kagzi.workflow_type": task.workflowType,
      "kagzi.attempt": task.attempt,
    };
    this.#span = tracer().startSpan(`kagzi.run ${task.workflowType}`, {
      kind: SpanKind.CONSUMER,
      attributes: { ...this.#attributes, "kagzi.workflow_id": task.workflowId },
    }, contextOf(task.traceparent));
    this.#context = trace.setSpan(ROOT_CONTEXT, this.#span);
  }

  /** Calls `fn` with this run's span active, so spans it starts are children. */
  within<T>(fn: () => T): T {
    return context.with(this.#context, fn);
  }

  /** Records an event (a sleep, a suspension, a signal wait) on the run span. */
  event(name: string, attributes: Attributes): void {
    if (this.#span.isRecording()) this.#span.addEvent(name, attributes);
  }

  /** Starts the span of one step attempt. */
  step(name: string, occurrence: number): StepTrace {
    return new StepTrace(
      tracer().startSpan(`kagzi.step ${name}`, {
        kind: SpanKind.INTERNAL,
        attributes: {
          ...this.#attributes,
          "kagzi.step.name": name,
          "kagzi.step.occurrence": occurrence,
        },
      }, this.#context),
    );
  }

  /** Ends the span with how the execution ended. */
  end(outcome: string, error?: unknown): void {
    this.#span.setAttribute("kagzi.outcome", outcome);
    if (error !== undefined) fail(this.#span, error);
    this.#span.end();
  }
}

/** The span of a held-back output's step: ended once the output is stored, or never will be. */
export interface OutputSpan {
  /** Calls `fn` with the step's span active: its store is the step's. */
  within<T>(fn: () => T): T;
  end(stored: boolean): void;
}

/** The span of one step attempt. */
export class StepTrace {
  readonly #span: Span;
  readonly #context: OtelContext;

  /** @internal */
  constructor(span: Span) {
    this.#span = span;
    this.#context = trace.setSpan(ROOT_CONTEXT, span);
  }

  /** Calls `fn` with the step's span active (its RPCs and the user's calls become children). */
  within<T>(fn: () => T): T {
    return context.with(this.#context, fn);
  }

  /** Ends the span: `ok`, failed with `error`, a retry at `retryAt`, or abandoned. */
  end(result: { kind: "value" | "error" | "wait" | "gone"; error?: unknown; at?: Date }): void {
    const span = this.#span;
    if (result.kind === "error") fail(span, result.error);
    if (result.kind === "wait") {
      span.addEvent("kagzi.retry_scheduled", { "kagzi.retry_at": result.at!.toISOString() });
      span.setStatus({ code: SpanStatusCode.ERROR, message: "attempt failed; retry scheduled" });
    }
    if (result.kind === "gone") span.setAttribute("kagzi.outcome", "abandoned");
    span.end();
  }
}

function fail(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error);
}
