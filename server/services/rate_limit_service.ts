/**
 * RateLimitService: named rate limits of a namespace (set, get, list, delete), taken by the
 * steps that ask for them (`BeginStep.rate_limit`, step_handlers.ts) from a token bucket in
 * the database (store/rate_buckets.ts).
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  DeleteRateLimitResponseSchema,
  GetRateLimitResponseSchema,
  ListRateLimitsResponseSchema,
  type NamedRateLimit,
  NamedRateLimitSchema,
  type RateLimitService,
  SetRateLimitResponseSchema,
} from "@kagzi/proto";
import { NotFoundError, ResourceExhaustedError } from "../errors.ts";
import { deleteBuckets } from "../store/rate_buckets.ts";
import * as limits from "../store/rate_limits.ts";
import type { ServiceContext } from "./_context.ts";
import { ts } from "./_convert.ts";
import { rateLimitValues } from "./_rate_limit_values.ts";
import * as v from "./_validate.ts";

/** The most named limits a namespace may have. */
export const maxRateLimits = 10_000;

/** A stored named limit as sent. */
export function rateLimitToProto(r: limits.RateLimitRow): NamedRateLimit {
  return create(NamedRateLimitSchema, {
    namespace: r.namespace_id,
    name: r.name,
    limit: r.limit,
    period: durationFromMs(Number(r.period_ms)),
    createdAt: ts(r.created_at),
    updatedAt: ts(r.updated_at),
  });
}

/** The error for a named limit that does not exist. */
export function rateLimitNotFound(namespaceId: string, name: string, op: string): NotFoundError {
  return new NotFoundError(
    "rate_limit",
    name,
    `Cannot ${op}: rate limit ${
      v.show(name)
    } is not defined in namespace "${namespaceId}" (define it with client.setRateLimit)`,
  );
}

/** The RateLimitService handlers. */
export function rateLimitService(ctx: ServiceContext): ServiceImpl<typeof RateLimitService> {
  const { db } = ctx;
  return {
    async setRateLimit(req) {
      const op = "set rate limit";
      const namespaceId = v.namespace(op, req.namespace);
      const name = v.name(op, "name", req.name);
      const { limit, periodMs } = rateLimitValues(op, req.limit, req.period);
      const row = await db.transaction(async (tx) => {
        const row = await limits.setRateLimit(tx, namespaceId, name, limit, periodMs);
        if (row.created && await limits.countRateLimits(tx, namespaceId) > maxRateLimits) {
          throw new ResourceExhaustedError(
            "rate_limit",
            `Cannot ${op}: namespace "${namespaceId}" already has ${maxRateLimits} rate limits`,
          );
        }
        return row;
      });
      return create(SetRateLimitResponseSchema, {
        rateLimit: rateLimitToProto(row),
        created: row.created,
      });
    },

    async getRateLimit(req) {
      const op = "get rate limit";
      const namespaceId = v.namespace(op, req.namespace);
      const name = v.name(op, "name", req.name);
      const row = await limits.getRateLimit(db, namespaceId, name);
      if (!row) throw rateLimitNotFound(namespaceId, name, op);
      return create(GetRateLimitResponseSchema, { rateLimit: rateLimitToProto(row) });
    },

    async listRateLimits(req) {
      const op = "list rate limits";
      const namespaceId = v.namespace(op, req.namespace);
      const rows = await limits.listRateLimits(db, namespaceId, maxRateLimits);
      return create(ListRateLimitsResponseSchema, { rateLimits: rows.map(rateLimitToProto) });
    },

    async deleteRateLimit(req) {
      const op = "delete rate limit";
      const namespaceId = v.namespace(op, req.namespace);
      const name = v.name(op, "name", req.name);
      const deleted = await db.transaction(async (tx) => {
        const deleted = await limits.deleteRateLimit(tx, namespaceId, name);
        if (deleted) await deleteBuckets(tx, namespaceId, "step", name);
        return deleted;
      });
      if (!deleted) throw rateLimitNotFound(namespaceId, name, op);
      return create(DeleteRateLimitResponseSchema, {});
    },
  };
}
