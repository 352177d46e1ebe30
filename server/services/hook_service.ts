/**
 * HookService: create, list and delete webhook endpoints. The endpoint itself,
 * POST /v1/hooks/{namespace}/{name}, is served by `hook_endpoint.ts`.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateHookResponseSchema,
  DeleteHookResponseSchema,
  type Hook,
  HookSchema,
  type HookService,
  ListHooksResponseSchema,
} from "@kagzi/proto";
import { InvalidArgumentError, NotFoundError } from "../errors.ts";
import * as hooks from "../store/hooks.ts";
import type { ServiceContext } from "./_context.ts";
import { ts } from "./_convert.ts";
import * as v from "./_validate.ts";

const hookName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A hook name: it sits in a URL path, so 1-128 letters, digits, ".", "_" or "-". */
export function checkHookName(op: string, value: string): string {
  if (!hookName.test(value)) {
    throw new InvalidArgumentError(
      "name",
      `Cannot ${op}: "name" ${v.show(value)} must be 1-128 letters, digits, ".", "_" or "-"`,
    );
  }
  return value;
}

/** The path a hook is served at. */
export function hookPath(namespaceId: string, name: string): string {
  return `/v1/hooks/${namespaceId}/${name}`;
}

function hookToProto(r: hooks.HookRow): Hook {
  return create(HookSchema, {
    namespace: r.namespace_id,
    name: r.name,
    workflowType: r.workflow_type ?? "",
    event: r.event_name ?? "",
    path: hookPath(r.namespace_id, r.name),
    secretHint: r.secret_hint,
    createdAt: ts(r.created_at),
    updatedAt: ts(r.updated_at),
  });
}

/** The HookService handlers. */
export function hookService(ctx: ServiceContext): ServiceImpl<typeof HookService> {
  const { db } = ctx;
  return {
    async createHook(req) {
      const op = "create hook";
      const namespaceId = v.namespace(op, req.namespace);
      const name = checkHookName(op, req.name);
      const workflowType = v.name(op, "workflow_type", req.workflowType, false);
      const event = v.name(op, "event", req.event, false);
      if ((workflowType === "") === (event === "")) {
        throw new InvalidArgumentError(
          workflowType ? "event" : "workflow_type",
          `Cannot ${op}: give exactly one of "workflow_type" (start a run of it) and "event" ` +
            `(emit it)`,
        );
      }
      // Any non-empty key is taken (a provider's, e.g. Stripe's "whsec_…", is what it is);
      // the README recommends 32 random bytes for secrets of your own.
      if (req.secret.length < 1 || req.secret.length > 1024) {
        throw new InvalidArgumentError(
          "secret",
          `Cannot ${op}: "secret" is ${req.secret.length} characters long; use 1 to 1024`,
        );
      }
      const row = await hooks.upsertHook(db, {
        namespaceId,
        name,
        workflowType: workflowType || null,
        event: event || null,
        secret: new TextEncoder().encode(req.secret),
      });
      return create(CreateHookResponseSchema, { hook: hookToProto(row), replaced: row.replaced });
    },

    async listHooks(req) {
      const namespaceId = v.namespace("list hooks", req.namespace);
      const rows = await hooks.listHooks(db, namespaceId);
      return create(ListHooksResponseSchema, { hooks: rows.map(hookToProto) });
    },

    async deleteHook(req) {
      const op = "delete hook";
      const namespaceId = v.namespace(op, req.namespace);
      const name = checkHookName(op, req.name);
      if (!await hooks.deleteHook(db, namespaceId, name)) {
        throw new NotFoundError(
          "hook",
          name,
          `Hook "${name}" was not found in namespace "${namespaceId}"`,
        );
      }
      return create(DeleteHookResponseSchema, {});
    },
  };
}
