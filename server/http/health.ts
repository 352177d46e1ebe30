/**
 * Plain HTTP health endpoints for orchestrators (Kubernetes probes, load balancers), open
 * without an API key: `GET /healthz` answers 200 while the process serves requests (liveness);
 * `GET /readyz` answers 200 when the database answers and every migration is applied, 503
 * otherwise (readiness). Both answer within about a second whatever the database does.
 */
import type { DbHealth } from "../store/health.ts";

/** The paths served here. */
export const healthPaths: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

/** Answers `GET`/`HEAD` of `/healthz` or `/readyz` (see {@linkcode healthPaths}). */
export async function serveHealth(req: Request, path: string, health: DbHealth): Promise<Response> {
  const headers = { "cache-control": "no-store" };
  if (req.method !== "GET" && req.method !== "HEAD") {
    return Response.json({ code: "unimplemented", message: `Use GET ${path}` }, {
      status: 405,
      headers: { ...headers, allow: "GET, HEAD" },
    });
  }
  if (path === "/healthz") return Response.json({ status: "ok" }, { headers });
  const state = await health.check();
  const ready = state.databaseOk && state.migrated;
  return Response.json({
    status: ready ? "ready" : "unavailable",
    database: state.databaseOk,
    migrated: state.migrated,
    message: state.message,
    checkedAt: state.checkedAt.toISOString(),
  }, { status: ready ? 200 : 503, headers });
}
