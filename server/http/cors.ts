/**
 * CORS for browser callers of the Connect port: which origins may call (`--cors-origins`), and
 * the methods and headers Connect and gRPC-Web use (connect-es's `cors` lists) plus
 * `authorization` for API keys.
 */
import { cors } from "@connectrpc/connect";

/**
 * The CORS headers for a request from `origins`' callers; undefined for other origins and for
 * requests without an `Origin` (servers and workers), which pay nothing for them.
 */
export function corsHeaders(req: Request, origins: string[]): Headers | undefined {
  const origin = req.headers.get("origin");
  if (!origin || !(origins.includes("*") || origins.includes(origin))) return undefined;
  const headers = new Headers();
  headers.set("access-control-allow-origin", origins.includes("*") ? "*" : origin);
  headers.set("vary", "origin");
  if (req.method === "OPTIONS") {
    headers.set("access-control-allow-methods", cors.allowedMethods.join(", "));
    headers.set(
      "access-control-allow-headers",
      [...cors.allowedHeaders, "authorization", "last-event-id"].join(", "),
    );
    headers.set("access-control-max-age", "7200");
  } else {
    headers.set("access-control-expose-headers", cors.exposedHeaders.join(", "));
  }
  return headers;
}
