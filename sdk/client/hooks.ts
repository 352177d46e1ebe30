/** Webhook endpoints from the client: create (or replace), list, delete. */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Hook } from "@kagzi/proto";
import { KagziError } from "../errors.ts";
import type { AnyWorkflowRef } from "../workflow_ref.ts";
import { rpc, type Services } from "./_services.ts";

/** A webhook endpoint as stored (never with its secret). */
export interface HookInfo {
  /** The hook's name within its namespace (the last segment of its path). */
  name: string;
  /** The namespace of the hook and of what it starts. */
  namespace: string;
  /** The workflow type each delivery starts, when the hook starts runs. */
  workflow?: string;
  /** The event each delivery emits, when the hook emits. */
  event?: string;
  /** Where to POST: `/v1/hooks/{namespace}/{name}` on the server's Connect port. */
  path: string;
  /** The first 8 hex digits of SHA-256(secret), to tell secrets apart. */
  secretHint: string;
  /** When it was created. */
  createdAt: Date | undefined;
  /** When it was last replaced. */
  updatedAt: Date | undefined;
}

/** Options of {@linkcode Kagzi.createHook}: exactly one of `workflow` and `event`. */
export interface CreateHookOptions {
  /** Each delivery starts a run of this workflow with the JSON body as input. */
  workflow?: string | AnyWorkflowRef;
  /** Each delivery emits this event with the JSON body as data. */
  event?: string;
  /** The HMAC-SHA256 key deliveries are signed with (1-1024 characters; use 32 random bytes or more for your own). */
  secret: string;
  /** The hook's namespace. @default the client's namespace */
  namespace?: string;
}

function hookFromWire(h: Hook): HookInfo {
  return {
    name: h.name,
    namespace: h.namespace,
    ...(h.workflowType ? { workflow: h.workflowType } : {}),
    ...(h.event ? { event: h.event } : {}),
    path: h.path,
    secretHint: h.secretHint,
    createdAt: h.createdAt && timestampDate(h.createdAt),
    updatedAt: h.updatedAt && timestampDate(h.updatedAt),
  };
}

/** CreateHook. */
export async function createHook(
  services: Services,
  namespace: string,
  name: string,
  options: CreateHookOptions,
): Promise<HookInfo> {
  if (typeof options?.secret !== "string") {
    throw new KagziError("INVALID_ARGUMENT", `Cannot create hook "${name}": "secret" is required`, {
      subject: "secret",
      nonRetryable: true,
    });
  }
  const w = options.workflow;
  const res = await rpc(() =>
    services.hooks.createHook({
      namespace,
      name,
      workflowType: typeof w === "string" ? w : (w?.type ?? ""),
      event: options.event ?? "",
      secret: options.secret,
    })
  );
  return hookFromWire(res.hook!);
}

/** ListHooks. */
export async function listHooks(services: Services, namespace: string): Promise<HookInfo[]> {
  const res = await rpc(() => services.hooks.listHooks({ namespace }));
  return res.hooks.map(hookFromWire);
}

/** DeleteHook. */
export async function deleteHook(
  services: Services,
  namespace: string,
  name: string,
): Promise<void> {
  await rpc(() => services.hooks.deleteHook({ namespace, name }));
}
