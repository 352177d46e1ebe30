/**
 * Unary RPCs called in memory with messages instead of bytes: what `Kagzi.connect(server)` and
 * `Worker.builder(server)` use in the server's own process. A call passes the same key check,
 * interceptors (metrics, error mapping, namespace scope, message check, maintenance) and
 * handlers as one over HTTP; only the encoding, the decoding and HTTP's objects are left out.
 * Streaming calls go through the router's byte-level `call` instead.
 */
import type { DescMethod, DescMethodUnary, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextValues,
  createHandlerContext,
  createServiceImplSpec,
  type Interceptor,
  type ServiceImplSpec,
} from "@connectrpc/connect";
import { invokeUnaryImplementation } from "@connectrpc/connect/protocol";
import { toConnectError } from "../errors.ts";
import { type ApiKeyCheck, callerScope } from "./auth.ts";

/** One unary call in memory: the request message in, the response message out. */
export type InProcessUnary = (
  method: DescMethodUnary,
  header: Headers,
  message: unknown,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
) => Promise<{ header: Headers; trailer: Headers; message: unknown }>;

type MethodSpec = ServiceImplSpec["methods"][string];

/** Ends a call's context when it answered (a reason of its own: no DOMException per call). */
const answered = new ConnectError("the call was answered", Code.Canceled);

/**
 * A router that also keeps the implementations registered on it, by method path
 * (`/kagzi.v1.WorkflowService/StartWorkflow`).
 */
export function recordingRouter(
  router: ConnectRouter,
  specs: Map<string, MethodSpec>,
): ConnectRouter {
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      const spec = createServiceImplSpec(service as DescService, impl);
      for (const m of Object.values(spec.methods)) specs.set(pathOf(m.method), m);
      router.service(service, impl, options);
      return recording;
    },
    rpc(...args: Parameters<ConnectRouter["rpc"]>) {
      router.rpc(...args);
      return recording;
    },
  } as ConnectRouter;
  return recording;
}

/** The in-memory caller of the unary methods in `specs`. */
export function inProcessUnary(
  specs: Map<string, MethodSpec>,
  interceptors: Interceptor[],
  keys: ApiKeyCheck | undefined,
  log: (msg: string, err: unknown) => void,
): InProcessUnary {
  return async (method, header, message, signal, timeoutMs) => {
    const path = pathOf(method);
    const spec = specs.get(path);
    if (!spec || spec.kind !== "unary") {
      throw new ConnectError(`No such unary procedure: ${path}`, Code.Unimplemented);
    }
    const values = createContextValues();
    if (keys) {
      const scope = keys.authenticate(method.name, header);
      if (!("namespaces" in scope)) throw toConnectError(scope, log);
      values.set(callerScope, scope);
    }
    const context = createHandlerContext({
      service: method.parent,
      method,
      protocolName: "connect",
      requestMethod: "POST",
      url: `http://in-process.kagzi${path}`,
      requestHeader: header,
      requestSignal: signal,
      timeoutMs,
      contextValues: values,
    });
    try {
      const out = await invokeUnaryImplementation(spec, context, message as never, interceptors);
      return { header: context.responseHeader, trailer: context.responseTrailer, message: out };
    } finally {
      context.abort(answered);
    }
  };
}

function pathOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
