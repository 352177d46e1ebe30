/**
 * API keys: when the server is configured with keys, every call must carry one of
 * them as `authorization: Bearer <key>`, whatever the protocol (Connect, gRPC-Web
 * or gRPC). Keys are compared through their SHA-256 digests in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
import { UnauthorizedError } from "./errors.ts";

const digest = (key: string): Uint8Array => createHash("sha256").update(key).digest();

/** An interceptor refusing calls without an accepted key; none when `keys` is empty. */
export function apiKeyInterceptor(keys: string[]): Interceptor | undefined {
  if (keys.length === 0) return undefined;
  const accepted = keys.map(digest);
  return (next) => (req) => {
    const header = req.header.get("authorization");
    if (!header) {
      throw new UnauthorizedError(
        `${req.method.name}: missing "authorization" header; this server requires an API key ` +
          `("authorization: Bearer <key>", or the apiKey option of the SDK)`,
      );
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new UnauthorizedError(
        `${req.method.name}: the "authorization" header must be "Bearer <key>"`,
      );
    }
    const given = digest(match[1]);
    // Compare with every key so the time taken does not tell which one nearly matched.
    let ok = false;
    for (const key of accepted) ok = timingSafeEqual(given, key) || ok;
    if (!ok) {
      throw new UnauthorizedError(
        `${req.method.name}: the API key in the "authorization" header is not accepted`,
      );
    }
    return next(req);
  };
}
