/**
 * TokenService: complete or fail a run's token by its id (the API-key path; the signed URL path
 * is `http/token_callback.ts`, which settles through {@linkcode settleToken} too), list a run's
 * tokens, and rotate the secret token URLs are signed with.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CompleteTokenResponseSchema,
  ErrorCode,
  ErrorDetailSchema,
  FailTokenResponseSchema,
  ListTokensResponseSchema,
  RotateTokenSecretResponseSchema,
  type Token,
  TokenSchema,
  type TokenService,
  TokenStatus,
} from "@kagzi/proto";
import { InvalidArgumentError, NotFoundError, PreconditionError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import * as runs from "../store/runs.ts";
import { lockSecret } from "../store/token_secrets.ts";
import * as tokens from "../store/tokens.ts";
import type { ServiceContext } from "./_context.ts";
import { signatureRefused } from "./_token_urls.ts";
import { errorFromJson, errorToJson, payloadOf, ts } from "./_convert.ts";
import { runNotFound } from "./_not_found.ts";
import * as v from "./_validate.ts";

/** NUL or an unpaired surrogate: text the database cannot store. */
// deno-lint-ignore no-control-regex
const badText = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A token row as the wire's Token, with its signed URL. */
async function tokenToProto(
  ctx: ServiceContext,
  requestUrl: string,
  t: tokens.TokenRow,
): Promise<Token> {
  const status = t.expired
    ? TokenStatus.EXPIRED
    : t.status === "COMPLETED"
    ? TokenStatus.COMPLETED
    : t.status === "FAILED"
    ? TokenStatus.FAILED
    : TokenStatus.PENDING;
  return create(TokenSchema, {
    tokenId: t.token_id ?? "",
    runId: t.run_id,
    name: t.name,
    occurrence: t.occurrence,
    status,
    url: await ctx.tokens.url(ctx.tokens.base(requestUrl), t.namespace_id, t.token_id ?? ""),
    createdAt: ts(t.started_at),
    timeoutAt: ts(t.wake_up_at),
    completedAt: ts(t.finished_at),
    value: payloadOf(t.output, t.output_metadata),
    error: errorFromJson(t.error),
  });
}

/**
 * Completes (`value`) or fails (`reason`) token `tokenId` of a namespace and wakes its run.
 * NOT_FOUND when there is no such token; PRECONDITION_FAILED, changing nothing, when it was
 * settled before, has expired, or its run has ended. `secretId` (the signed URL path): the
 * secret the URL was signed with, locked in the same transaction — UNAUTHORIZED, changing
 * nothing, when a rotation retired it.
 */
export async function settleToken(
  ctx: ServiceContext,
  op: string,
  namespaceId: string,
  tokenId: string,
  outcome: { value: { data: Uint8Array; metadata: Record<string, string> } } | { reason: string },
  requestUrl: string,
  secretId?: number,
): Promise<Token> {
  const stored: tokens.TokenOutcome = "value" in outcome ? outcome : {
    error: errorToJson(create(ErrorDetailSchema, {
      code: ErrorCode.APPLICATION,
      name: "TokenFailedError",
      nonRetryable: true,
      subject: "token",
      subjectId: tokenId,
      message: outcome.reason,
    })),
  };
  const res = await ctx.db.transaction(async (tx) => {
    if (secretId !== undefined && !(await lockSecret(tx, secretId))) {
      return { kind: "retired" } as const;
    }
    return await tokens.settleToken(tx, namespaceId, tokenId, stored);
  });
  switch (res.kind) {
    case "retired":
      throw signatureRefused(op, tokenId);
    case "not_found":
      throw new NotFoundError(
        "token",
        tokenId,
        `Token "${tokenId}" was not found in namespace "${namespaceId}"`,
      );
    case "run_ended":
      throw new PreconditionError(
        "token",
        tokenId,
        `Cannot ${op}: the run of token "${tokenId}" (${res.token.run_id}) has ended` +
          (res.status ? ` (${res.status})` : ""),
      );
    case "refused": {
      const t = res.token;
      const why = t.expired
        ? `expired at ${t.wake_up_at!.toISOString()}`
        : `already ${
          t.status === "COMPLETED" ? "completed" : "failed"
        } at ${t.finished_at?.toISOString()}`;
      throw new PreconditionError(
        "token",
        tokenId,
        `Cannot ${op}: token "${tokenId}" is ${why}; its outcome is kept`,
      );
    }
    case "settled":
      if (res.woke) ctx.notifier.publish(workTopic(namespaceId));
      return await tokenToProto(ctx, requestUrl, res.token);
  }
}

/** The TokenService handlers. */
export function tokenService(ctx: ServiceContext): ServiceImpl<typeof TokenService> {
  return {
    async completeToken(req, call) {
      const op = "complete token";
      const namespaceId = v.namespace(op, req.namespace);
      const tokenId = v.runId(op, req.tokenId, "token_id");
      const value = v.payload(op, "value", req.value);
      const token = await settleToken(ctx, op, namespaceId, tokenId, { value }, call.url);
      return create(CompleteTokenResponseSchema, { token });
    },

    async failToken(req, call) {
      const op = "fail token";
      const namespaceId = v.namespace(op, req.namespace);
      const tokenId = v.runId(op, req.tokenId, "token_id");
      if (badText.test(req.reason)) {
        throw new InvalidArgumentError(
          "reason",
          `Cannot ${op}: "reason" holds a NUL character or invalid Unicode`,
        );
      }
      const reason = v.clip(req.reason, 4096) || "the token was failed";
      const token = await settleToken(ctx, op, namespaceId, tokenId, { reason }, call.url);
      return create(FailTokenResponseSchema, { token });
    },

    async listTokens(req, call) {
      const op = "list tokens";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const rows = await tokens.listTokens(ctx.db, namespaceId, runId);
      if (rows.length === 0 && !(await runs.getRun(ctx.db, namespaceId, runId))) {
        throw runNotFound(namespaceId, runId);
      }
      // Signed with the newest secret even when another replica rotated a moment ago: after a
      // rotation that retired the older ones, these are the URLs to send again.
      if (rows.length) await ctx.tokens.refresh();
      return create(ListTokensResponseSchema, {
        tokens: await Promise.all(rows.map((t) => tokenToProto(ctx, call.url, t))),
      });
    },

    async rotateTokenSecret(req) {
      return create(RotateTokenSecretResponseSchema, await ctx.tokens.rotate(req.retireOlder));
    },
  };
}
