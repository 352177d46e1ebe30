/**
 * The interceptors every RPC passes through, in order: metrics, the mapping of store errors to
 * Connect errors (`errors.ts`), the API key's namespace scope (`auth.ts`), the message check
 * (`message_check.ts`) and, in serverless mode, the engine's maintenance inside the request.
 */
import type { Interceptor } from "@connectrpc/connect";
import type { Maintenance } from "../engine/maintenance.ts";
import { toConnectError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { scopeInterceptor } from "./auth.ts";
import { messageCheckInterceptor } from "./message_check.ts";

/** What {@linkcode interceptorsFor} puts in the chain. */
export interface InterceptorOptions {
  log: Logger;
  /** The metrics' interceptor, when metrics are on. */
  metrics?: Interceptor;
  /** Whether API keys are checked (then their namespace scope is). */
  scoped: boolean;
  /** Serverless: the engine's periodic work runs inside the requests being served. */
  maintenance?: Maintenance;
}

/** The interceptor chain of both routers (Connect and gRPC). */
export function interceptorsFor(options: InterceptorOptions): Interceptor[] {
  const { log, metrics, maintenance } = options;
  return [
    ...(metrics ? [metrics] : []),
    (next) => async (req) => {
      try {
        return await next(req);
      } catch (err) {
        throw toConnectError(err, (msg, e) => log.error(`${req.method.name}: ${msg}`, e));
      }
    },
    ...(options.scoped ? [scopeInterceptor] : []),
    messageCheckInterceptor,
    ...(maintenance ? [maintenanceInterceptor(maintenance)] : []),
  ];
}

/** Methods that may wait (long polls, result waits): passes repeat while they are open. */
const waiting = new Set(["PollTask", "GetWorkflow", "WaitRuns"]);

/**
 * Runs maintenance inside the requests being served: every call pokes a pass, long polls and
 * result waits hold passes while open, and no call answers before its pass ends
 * ({@linkcode Maintenance.around}).
 */
function maintenanceInterceptor(maintenance: Maintenance): Interceptor {
  return (next) => (req) => maintenance.around(() => next(req), waiting.has(req.method.name));
}
