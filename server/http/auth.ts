/**
 * API keys: when the server is configured with keys, every call must carry one of
 * them as `authorization: Bearer <key>`, whatever the protocol (Connect, gRPC-Web
 * or gRPC). The key is checked from the headers alone, before any of the body is
 * read ({@linkcode ApiKeyCheck.authenticate}, called by the request guard); what
 * the key covers is checked once the request is decoded ({@linkcode scopeInterceptor}):
 * a key scoped to namespaces reaches only those, and calls that name no namespace
 * (server-wide calls) need an admin key. Keys are compared through their SHA-256
 * digests in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createContextKey, type Interceptor } from "@connectrpc/connect";
import type { ApiKey } from "../server_config.ts";
import { type KagziServerError, PermissionDeniedError, UnauthorizedError } from "../errors.ts";

/** What the caller's key may reach. */
export interface KeyScope {
  /** The namespaces covered; `"*"` covers every namespace. */
  namespaces: "*" | ReadonlySet<string>;
  /** Whether server-wide calls are allowed. */
  admin: boolean;
}

/** The scope of a server without keys: everything. */
export const fullScope: KeyScope = { namespaces: "*", admin: true };

/** The caller's scope, set by the request guard for the interceptors. */
export const callerScope = createContextKey<KeyScope>(fullScope, {
  description: "kagzi caller scope",
});

/** Calls that name no namespace but are open to every accepted key (the SDK's connect check). */
const openToEveryKey = new Set(["kagzi.v1.AdminService.HealthCheck"]);

const digest = (key: string): Uint8Array => createHash("sha256").update(key).digest();

/** Checks `authorization` headers against the configured keys. */
export class ApiKeyCheck {
  readonly #keys: { digest: Uint8Array; scope: KeyScope }[];

  /** The check for `keys`; none is needed when `keys` is empty. */
  constructor(keys: ApiKey[]) {
    this.#keys = keys.map((k) => ({
      digest: digest(k.key),
      scope: {
        namespaces: k.namespaces === "*" ? "*" : new Set(k.namespaces),
        admin: k.admin,
      },
    }));
  }

  /** The scope of the key in `header`, or the error refusing the call. Reads headers only. */
  authenticate(method: string, header: Headers): KeyScope | KagziServerError {
    const value = header.get("authorization");
    if (!value) {
      return new UnauthorizedError(
        `${method}: missing "authorization" header; this server requires an API key ` +
          `("authorization: Bearer <key>", or the apiKey option of the SDK)`,
      );
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
    if (!match) {
      return new UnauthorizedError(`${method}: the "authorization" header must be "Bearer <key>"`);
    }
    const given = digest(match[1]);
    // Compare with every key so the time taken does not tell which one nearly matched.
    let found: KeyScope | undefined;
    for (const key of this.#keys) {
      if (timingSafeEqual(given, key.digest)) found ??= key.scope;
    }
    return found ?? new UnauthorizedError(
      `${method}: the API key in the "authorization" header is not accepted`,
    );
  }
}

/** Whether `scope` covers `namespace` (empty means "default"). */
export function covers(scope: KeyScope, namespace: string): boolean {
  return scope.namespaces === "*" || scope.namespaces.has(namespace || "default");
}

/**
 * Refuses a decoded request whose `namespace` the caller's key does not cover, and a
 * server-wide call (one without a `namespace` field) from a key that is not an admin key.
 */
export const scopeInterceptor: Interceptor = (next) => (req) => {
  const scope = req.contextValues.get(callerScope);
  if (scope.namespaces === "*" && scope.admin) return next(req);
  const method = req.method;
  const hasNamespace = method.input.fields.some((f) => f.name === "namespace");
  if (hasNamespace) {
    const namespace = String((req.message as { namespace?: unknown }).namespace ?? "") ||
      "default";
    if (!covers(scope, namespace)) {
      const shown = JSON.stringify(
        namespace.length > 64 ? namespace.slice(0, 61) + "..." : namespace,
      );
      throw new PermissionDeniedError(
        "namespace",
        namespace.slice(0, 128),
        `${method.name}: the API key does not cover namespace ${shown}`,
      );
    }
  } else if (!scope.admin && !openToEveryKey.has(`${method.parent.typeName}.${method.name}`)) {
    throw new PermissionDeniedError(
      "api_key",
      "",
      `${method.name} is a server-wide call: it needs an admin key (one configured as "key=*")`,
    );
  }
  return next(req);
};
