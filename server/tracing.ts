/**
 * OpenTelemetry on the server, through Deno's built-in support (`OTEL_DENO=true`):
 * Deno traces every request (continuing the caller's `traceparent`); this module
 * adds a span per database statement made while serving a request and reads the trace context a start stores
 * with its run. With OpenTelemetry off nothing is wrapped.
 */
import { SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import { InvalidArgumentError } from "./errors.ts";
import type { Db, Queryable } from "./store/db.ts";
import { SERVER_VERSION } from "./version.ts";

const traceparentPattern = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The W3C trace context to store with a new run: the request's `traceparent`
 * field (INVALID_ARGUMENT when malformed), else a well-formed `traceparent`
 * header, else null.
 */
export function traceparentOf(op: string, field: string, headers: Headers): string | null {
  if (field !== "") {
    if (!traceparentPattern.test(field)) {
      throw new InvalidArgumentError(
        "traceparent",
        `Cannot ${op}: "traceparent" ${
          JSON.stringify(field.slice(0, 80))
        } is not a W3C trace context ("00-<32 hex>-<16 hex>-<2 hex>")`,
      );
    }
    return field;
  }
  const header = headers.get("traceparent")?.trim().toLowerCase() ?? "";
  return traceparentPattern.test(header) ? header : null;
}

/** Whether an OpenTelemetry tracer provider records spans in this process. */
export function tracingEnabled(tracer: Tracer = serverTracer()): boolean {
  // A span that is never ended is never exported.
  return tracer.startSpan("kagzi.probe", { root: true }).isRecording();
}

function serverTracer(): Tracer {
  return trace.getTracer("kagzi-server", SERVER_VERSION);
}

/**
 * `db` with a client span per statement (`db <first words>`, the SQL as
 * `db.query.text`, never the parameters) when tracing is on; `db` itself when off.
 */
export function withDbSpans(db: Db): Db {
  const tracer = serverTracer();
  if (!tracingEnabled(tracer)) return db;
  const traced = (q: Queryable): Queryable => ({
    query: (text, params) => span(tracer, text, () => q.query(text, params)),
    execute: (script) => span(tracer, script, () => q.execute(script)),
  });
  const plain = traced(db);
  return {
    ...plain,
    transaction: (fn) => db.transaction((tx) => fn(traced(tx))),
    listen: (channel, onMessage, onReconnect) => db.listen(channel, onMessage, onReconnect),
    notify: (channel, payload) => db.notify(channel, payload),
    crossProcessNotify: db.crossProcessNotify,
    close: () => db.close(),
  };
}

async function span<T>(tracer: Tracer, sql: string, fn: () => Promise<T>): Promise<T> {
  // Statements of a request join its trace; background work (ticker, scheduler) is not traced.
  if (!trace.getActiveSpan()) return await fn();
  const summary = sql.trimStart().split(/\s+/, 3).join(" ").replace(/[(,].*$/, "");
  const s = tracer.startSpan(`db ${summary}`, {
    kind: SpanKind.CLIENT,
    attributes: { "db.system.name": "postgresql", "db.query.text": sql.slice(0, 2048) },
  });
  try {
    return await fn();
  } catch (err) {
    s.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    s.end();
  }
}
