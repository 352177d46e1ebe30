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
import { type ApiKeyCheck, callerScope, type KeyScope } from "./auth.ts";

/** One unary call in memory: the request message in, the response message out. */
export type InProcessUnary = (
  method: DescMethodUnary,
  header: Headers,
  message: unknown,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
) => Promise<{ header: Headers; trailer: Headers; message: unknown }>;

/** A method's implementation, as registered. */
export type MethodSpec = ServiceImplSpec["methods"][string];

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

/** How a unary call arrived: over HTTP (its URL), or in memory. */
export interface UnaryCall {
  header: Headers;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
  /** The request's URL (token callback URLs are built from it). */
  url: string;
  /** The caller's key scope, already checked (the key check is skipped). */
  scope?: KeyScope;
}

/**
 * Calls a unary method's implementation with a decoded message, through the interceptors, with
 * the key check first (unless the call carries its checked scope).
 */
export function unaryInvoker(
  interceptors: Interceptor[],
  keys: ApiKeyCheck | undefined,
  log: (msg: string, err: unknown) => void,
): (spec: UnarySpec, call: UnaryCall, message: unknown) => Promise<UnaryAnswer> {
  return async (spec, call, message) => {
    const { method } = spec;
    const values = createContextValues();
    let scope = call.scope;
    if (keys && !scope) {
      const checked = keys.authenticate(method.name, call.header);
      if (!("namespaces" in checked)) throw toConnectError(checked, log);
      scope = checked;
    }
    if (scope) values.set(callerScope, scope);
    const context = createHandlerContext({
      service: method.parent,
      method,
      protocolName: "connect",
      requestMethod: "POST",
      url: call.url,
      requestHeader: call.header,
      requestSignal: call.signal,
      timeoutMs: call.timeoutMs,
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

/** A unary method's implementation, as registered. */
export type UnarySpec = Extract<MethodSpec, { kind: "unary" }>;

/** A unary call's answer: its headers, trailers and message. */
export interface UnaryAnswer {
  header: Headers;
  trailer: Headers;
  message: unknown;
}

/** The in-memory caller of the unary methods in `specs`. */
export function inProcessUnary(
  specs: Map<string, MethodSpec>,
  interceptors: Interceptor[],
  keys: ApiKeyCheck | undefined,
  log: (msg: string, err: unknown) => void,
): InProcessUnary {
  const invoke = unaryInvoker(interceptors, keys, log);
  return async (method, header, message, signal, timeoutMs) => {
    const path = pathOf(method);
    const spec = specs.get(path);
    if (!spec || spec.kind !== "unary") {
      throw new ConnectError(`No such unary procedure: ${path}`, Code.Unimplemented);
    }
    const url = `http://in-process.kagzi${path}`;
    return await invoke(spec, { header, signal, timeoutMs, url }, message);
  };
}

function pathOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
