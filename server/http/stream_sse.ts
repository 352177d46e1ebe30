/**
 * `GET /v1/runs/{runId}/streams/{name}` as `text/event-stream` (Server-Sent Events), for any
 * HTTP tool: one `id: <offset>` / `data: <JSON value>` event per value, a last `event: end`
 * when the stream is closed or its run ended, and `: keep-alive` comments while it is quiet.
 * `Last-Event-ID` (what EventSource sends when it reconnects) resumes after that offset,
 * `?from=N` starts at N, `?namespace=` picks the namespace. API keys apply as to every RPC
 * (`authorization: Bearer <key>`); errors are Connect's JSON errors with their HTTP status.
 */
import { codeToHttpStatus, errorToJson } from "@connectrpc/connect/protocol-connect";
import type { ServiceContext } from "../services/_context.ts";
import { checkFollow, follow, type FollowBatch } from "../services/_stream_follow.ts";
import { InvalidArgumentError, PermissionDeniedError, toConnectError } from "../errors.ts";
import { type ApiKeyCheck, covers } from "./auth.ts";

const route = /^\/v1\/runs\/([^/]+)\/streams\/(.+)$/;

/** Whether `path` is a stream's event-stream route. */
export function isStreamEventsPath(path: string): boolean {
  return route.test(path);
}

const encoder = new TextEncoder();

/** A percent-decoded segment of the path; a malformed escape is the caller's error. */
function pathSegment(op: string, field: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new InvalidArgumentError(
      field,
      `Cannot ${op}: the path's ${field} ${
        JSON.stringify(raw.slice(0, 64))
      } holds a malformed percent-escape`,
    );
  }
}

/** Serves the event stream of the run and stream `path` names. */
export async function serveStreamEvents(
  ctx: ServiceContext,
  keys: ApiKeyCheck | undefined,
  req: Request,
  path: string,
): Promise<Response> {
  const op = "follow stream";
  const log = (msg: string, e: unknown) => ctx.log.error(`${op}: ${msg}`, e);
  const abort = new AbortController();
  req.signal.addEventListener("abort", () => abort.abort(), { once: true });
  let batches: AsyncGenerator<FollowBatch>;
  let first: IteratorResult<FollowBatch>;
  const lastEventId = req.headers.get("last-event-id");
  try {
    if (req.method !== "GET") {
      return new Response(`Use GET ${path}\n`, { status: 405, headers: { allow: "GET" } });
    }
    const url = new URL(req.url);
    const m = route.exec(path)!;
    const namespace = url.searchParams.get("namespace") ?? "";
    if (keys) {
      const scope = keys.authenticate("StreamEvents", req.headers);
      if (!("namespaces" in scope)) throw scope;
      if (!covers(scope, namespace)) {
        throw new PermissionDeniedError(
          "namespace",
          namespace.slice(0, 128),
          `${op}: the API key does not cover namespace ${JSON.stringify(namespace || "default")}`,
        );
      }
    }
    let from = url.searchParams.get("from") ?? "0";
    if (lastEventId !== null) {
      if (!/^\d{1,15}$/.test(lastEventId.trim())) {
        throw new InvalidArgumentError(
          "Last-Event-ID",
          `Cannot ${op}: "Last-Event-ID" ${JSON.stringify(lastEventId)} is not an offset`,
        );
      }
      from = String(Number(lastEventId) + 1);
    }
    if (!/^\d{1,15}$/.test(from)) {
      throw new InvalidArgumentError(
        "from",
        `Cannot ${op}: "from" ${
          JSON.stringify(from.slice(0, 32))
        } is not an offset: a whole number from 0`,
      );
    }
    const f = checkFollow(op, {
      namespace,
      runId: pathSegment(op, "run_id", m[1]),
      name: pathSegment(op, "name", m[2]),
      from: Number(from),
    });
    batches = follow(ctx, f, abort.signal);
    first = await batches.next();
  } catch (err) {
    abort.abort();
    const e = toConnectError(err, log);
    return new Response(JSON.stringify(errorToJson(e, undefined)), {
      status: codeToHttpStatus(e.code),
      headers: { "content-type": "application/json" },
    });
  }
  // A reconnect after the end: 204 tells EventSource to stop reconnecting.
  if (lastEventId !== null && !first.done && first.value.end && !first.value.entries.length) {
    abort.abort();
    return new Response(null, { status: 204 });
  }
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        for (let b = first; !b.done; b = await batches.next()) {
          controller.enqueue(encoder.encode(eventsOf(b.value)));
          if (b.value.end) break;
        }
      } catch (err) {
        // A fault mid-stream (the database away): the caller reconnects with Last-Event-ID.
        if (!abort.signal.aborted) ctx.log.warn(`${op}: ended early`, err);
      } finally {
        abort.abort();
        await batches.return(undefined).catch(() => {});
        try {
          controller.close();
        } catch { /* the caller went away */ }
      }
    },
    cancel() {
      abort.abort();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}

/** The SSE text of a batch: its values, the end, or a keep-alive comment. */
function eventsOf(b: FollowBatch): string {
  let out = "";
  for (const e of b.entries) {
    const data = e.data ? new TextDecoder().decode(e.data) : "null";
    // JSON has no raw newlines outside strings, but a value may be pretty-printed: one data
    // line per line keeps the event intact.
    out += `id: ${e.stream_offset}\n` + data.split("\n").map((l) => `data: ${l}\n`).join("") +
      "\n";
  }
  if (b.end) out += "event: end\ndata: {}\n\n";
  if (!out) out = ": keep-alive\n\n";
  return out;
}
