/**
 * `POST /v1/tokens/{namespace}/{tokenId}?sig={secretId}.{hmac}`: completes a token with the
 * JSON body, for any HTTP client and without an API key — the signature in the URL is the
 * credential (`services/_token_urls.ts`). It is checked before the body is read, and its
 * secret again in the completion's transaction; a bad one, or one signed with a secret a
 * rotation retired, is 401 and changes nothing. The body is refused (400, 413) before any write
 * when it is not JSON or is over the payload limit. Answers are JSON `{code, message}` on error
 * (Connect's code names), `{tokenId, runId, status}` on success; a token completed before,
 * failed or expired is 409 (`failed_precondition`) and keeps its outcome.
 */
import { Code, type ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { InvalidArgumentError } from "../errors.ts";
import { toConnectError } from "../errors.ts";
import type { ServiceContext } from "../services/_context.ts";
import { signatureRefused, tokenPathPrefix } from "../services/_token_urls.ts";
import { settleToken } from "../services/token_service.ts";
import * as v from "../services/_validate.ts";

export { tokenPathPrefix };

const encoder = new TextEncoder();

/** Reads at most `max` bytes of a body; undefined when it is longer. */
async function readLimited(req: Request, max: number): Promise<Uint8Array | undefined> {
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function answer(err: ConnectError): Response {
  const status = err.code === Code.FailedPrecondition ? 409 : codeToHttpStatus(err.code);
  return Response.json({ code: codeToString(err.code), message: err.rawMessage }, { status });
}

/** The handler of token URLs. */
export function tokenCallback(ctx: ServiceContext): (req: Request) => Promise<Response> {
  const op = "complete token";
  return async (req) => {
    try {
      if (req.method !== "POST") {
        return Response.json(
          { code: "unimplemented", message: `${req.method} is not allowed: POST a JSON body` },
          { status: 405, headers: { allow: "POST" } },
        );
      }
      const url = new URL(req.url);
      const [ns, id, ...rest] = url.pathname.slice(tokenPathPrefix.length).split("/");
      if (rest.length || !ns || !id) {
        throw new InvalidArgumentError(
          "path",
          `Cannot ${op}: use POST ${tokenPathPrefix}{namespace}/{tokenId}?sig=…`,
        );
      }
      let namespace: string;
      try {
        namespace = decodeURIComponent(ns);
      } catch {
        throw new InvalidArgumentError(
          "namespace",
          `Cannot ${op}: the namespace is not URL-encoded text`,
        );
      }
      const namespaceId = v.namespace(op, namespace);
      const tokenId = v.runId(op, id, "token_id");
      const sig = url.searchParams.get("sig") ?? "";
      const secretId = await ctx.tokens.verify(namespaceId, tokenId, sig);
      if (secretId === undefined) throw signatureRefused(op, tokenId);
      const body = await readLimited(req, v.maxPayloadBytes);
      if (!body) {
        return Response.json({
          code: "resource_exhausted",
          message: `Cannot ${op}: the body is over ${v.maxPayloadBytes} bytes`,
        }, { status: 413 });
      }
      let data = new Uint8Array();
      if (body.byteLength) {
        try {
          data = encoder.encode(
            JSON.stringify(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body))),
          );
        } catch (err) {
          throw new InvalidArgumentError(
            "body",
            `Cannot ${op}: the body is not JSON (${(err as Error).message})`,
          );
        }
      }
      const value = v.payload(
        op,
        "body",
        { data, metadata: data.byteLength ? { encoding: "json" } : {} } as never,
      );
      const token = await settleToken(ctx, op, namespaceId, tokenId, { value }, req.url, secretId);
      return Response.json({ tokenId: token.tokenId, runId: token.runId, status: "COMPLETED" });
    } catch (err) {
      return answer(toConnectError(err, (msg, e) => ctx.log.error(`${op}: ${msg}`, e)));
    }
  };
}
