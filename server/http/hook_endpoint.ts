/**
 * The webhook endpoint: `POST /v1/hooks/{namespace}/{name}`, served without an API key — the
 * HMAC is the authentication. In order, before anything is written: a body over the payload
 * limit is 413 (read no further), an unknown hook 404, a missing or wrong
 * `X-Kagzi-Signature: sha256=<hex HMAC-SHA256 of the raw body>` 401 (compared in constant
 * time), a body that is not JSON 400, a bad `Idempotency-Key` 400. Then the hook starts a run
 * of its type with the body as input (the key, when given, is the run's workflow id) or emits
 * its event (the key is the event id), and answers `202 {runId, workflowId, alreadyExists}` or
 * `202 {eventId, runIds, alreadyExists}`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { retryAfterHeader, toConnectError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ServiceContext } from "../services/_context.ts";
import { jsonProblem } from "../services/_json.ts";
import { emitEvent, startHookRun } from "../services/_emit.ts";
import {
  maxPayloadBytes,
  name as checkName,
  namespace as checkNamespace,
} from "../services/_validate.ts";
import { checkHookName } from "../services/hook_service.ts";
import { getHookTarget } from "../store/hooks.ts";

/** The path prefix of hook endpoints. */
export const hooksPrefix = "/v1/hooks/";

/** The signature header. */
export const signatureHeader = "x-kagzi-signature";

const refuse = (status: number, code: string, message: string, headers?: HeadersInit) =>
  Response.json({ code, message }, { status, headers });

/**
 * A header's value as the UTF-8 text its bytes spell (`Headers` gives each byte as one
 * character, so "café" sent by curl arrives as "cafÃ©"); undefined when they are not UTF-8.
 */
function utf8Header(raw: string): string | undefined {
  if (![...raw].some((c) => c.charCodeAt(0) > 0x7f)) return raw;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(raw, (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
}

/** Serves POST /v1/hooks/{namespace}/{name}. */
export function hookEndpoint(ctx: ServiceContext): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      return await serve(ctx, req);
    } catch (err) {
      return errorResponse(err, ctx.log);
    }
  };
}

async function serve(ctx: ServiceContext, req: Request): Promise<Response> {
  const parts = pathParts(new URL(req.url).pathname.slice(hooksPrefix.length));
  if (!parts) return refuse(404, "not_found", "Use POST /v1/hooks/{namespace}/{name}");
  if (req.method !== "POST") {
    return refuse(405, "method_not_allowed", "Hooks accept POST only", { allow: "POST" });
  }
  const op = "deliver to hook";
  const [namespaceId, name] = parts;
  checkNamespace(op, namespaceId);
  checkHookName(op, name);
  const body = await readBody(req);
  if (!body) {
    return refuse(
      413,
      "resource_exhausted",
      `The body is over the payload limit of ${maxPayloadBytes} bytes`,
    );
  }
  const hook = await getHookTarget(ctx.db, namespaceId, name);
  if (!hook) {
    return refuse(404, "not_found", `Hook "${name}" was not found in namespace "${namespaceId}"`);
  }
  if (!signed(hook.secret, body, req.headers.get(signatureHeader))) {
    return refuse(
      401,
      "unauthenticated",
      `The "X-Kagzi-Signature" header must be "sha256=<hex HMAC-SHA256 of the raw body>" ` +
        `under the hook's secret`,
    );
  }
  const problem = body.byteLength ? jsonProblem(body) : "the body is empty";
  if (problem) {
    return refuse(400, "invalid_argument", `The body is not JSON: ${problem.slice(0, 200)}`);
  }
  const key = utf8Header(req.headers.get("idempotency-key") ?? "");
  if (key === undefined) {
    return refuse(400, "invalid_argument", `The "Idempotency-Key" header is not UTF-8 text`);
  }
  checkName(op, "Idempotency-Key", key, false);
  const input = { data: body, metadata: { encoding: "json" } };
  if (hook.workflow_type !== null) {
    const workflowId = key || crypto.randomUUID();
    const run = await startHookRun(ctx, namespaceId, hook.workflow_type, workflowId, input);
    return Response.json(run, { status: 202 });
  }
  const eventId = key || crypto.randomUUID();
  const { event, alreadyExists } = await emitEvent(
    ctx,
    namespaceId,
    hook.event_name!,
    eventId,
    input,
  );
  return Response.json({ eventId, runIds: event.runs.map((r) => r.run_id), alreadyExists }, {
    status: 202,
  });
}

/** `{namespace}/{name}`, both non-empty and percent-decoded; undefined for any other shape. */
function pathParts(rest: string): [string, string] | undefined {
  const parts = rest.split("/");
  if (parts.length !== 2 || parts.some((p) => p === "")) return undefined;
  try {
    return [decodeURIComponent(parts[0]), decodeURIComponent(parts[1])];
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/** The body, or undefined once it is over the payload limit (the rest is not read). */
async function readBody(req: Request): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxPayloadBytes) {
    await req.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxPayloadBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Whether `header` is "sha256=<hex>" of the body's HMAC under `secret` (constant time). */
function signed(secret: Uint8Array, body: Uint8Array, header: string | null): boolean {
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header?.trim() ?? "");
  const expected = createHmac("sha256", secret).update(body).digest();
  // Compared even when the header is malformed, so the time taken does not tell which.
  const given = match ? Uint8Array.from(match[1].match(/../g)!, (h) => parseInt(h, 16)) : null;
  return timingSafeEqual(given ?? new Uint8Array(32), expected) && given !== null;
}

/** A thrown error as JSON with its Connect code's HTTP status (503 + Retry-After when transient). */
function errorResponse(err: unknown, log: Logger): Response {
  const e = toConnectError(err, (msg, cause) => log.error(`hook: ${msg}`, cause));
  const ms = Number(e.metadata.get(retryAfterHeader) ?? 0);
  const headers: Record<string, string> = {};
  if (ms > 0) headers["retry-after"] = String(Math.max(1, Math.ceil(ms / 1000)));
  return refuse(codeToHttpStatus(e.code), codeToString(e.code), e.rawMessage, headers);
}
