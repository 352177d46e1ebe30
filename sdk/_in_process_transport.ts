/**
 * The transport to a Kagzi server in this process: no socket and no network hop. Connect's unary
 * calls go to the server's handlers in memory with their messages (no encoding or decoding);
 * its streaming calls in memory as bytes; gRPC-Web through the server's `fetch`. Every call
 * still passes the server's checks (keys, limits, validation, leases).
 */
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import type { UniversalClientFn } from "@connectrpc/connect/protocol";
import { createTransport as createConnectMemoryTransport } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { KagziError } from "./errors.ts";

/**
 * A Kagzi server in this process (what `createServer()` of the server package returns): the
 * SDK calls it directly, with no socket and no network hop (its handlers in memory when it
 * offers them, else its `fetch` handler). Every call still goes through the server's checks
 * (keys, limits, validation, leases).
 */
export interface InProcessServer {
  /** Answers one HTTP request (Connect or gRPC-Web). */
  fetch(req: Request): Promise<Response>;
  /**
   * The server's clock (ms since the epoch), when it is not the system's (the testing kit's
   * virtual clock): a worker in this process times durable sleeps and signal timeouts by it.
   */
  now?(): number;
}

/** Connect (or gRPC-Web) to the server in this process: no socket, no hop. */
export function inProcessTransport(
  server: InProcessServer,
  protocol: string | undefined,
  interceptors: Interceptor[],
): Transport {
  const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
    server.fetch(new Request(input, init));
  const common = {
    baseUrl: "http://in-process.kagzi",
    useBinaryFormat: true,
    interceptors,
    fetch: fetch as typeof globalThis.fetch,
  };
  const call = (server as { [inProcessCall]?: UniversalClientFn })[inProcessCall];
  const unary = (server as { [inProcessUnary]?: Unary })[inProcessUnary];
  switch (protocol ?? "connect") {
    case "connect": {
      if (typeof call !== "function") return createConnectTransport(common);
      // In memory: a third of the CPU of an in-process call went to Request, Response, Headers
      // and their streams; unary calls also skip encoding and decoding when the server offers.
      const bytes = createConnectMemoryTransport({
        httpClient: call,
        baseUrl: common.baseUrl,
        useBinaryFormat: true,
        interceptors,
        acceptCompression: [],
        sendCompression: null,
        compressMinBytes: Number.MAX_SAFE_INTEGER,
        readMaxBytes: 0xffffffff,
        writeMaxBytes: 0xffffffff,
      });
      return typeof unary === "function" ? messageTransport(unary, bytes, interceptors) : bytes;
    }
    case "grpc-web":
      return createGrpcWebTransport(common);
    default:
      throw new KagziError(
        "INVALID_ARGUMENT",
        `Protocol ${
          JSON.stringify(protocol)
        } is not available in process: use "connect" or "grpc-web"`,
        { subject: "protocol", nonRetryable: true },
      );
  }
}

/**
 * Where a server of this process keeps its RPCs called in memory: not API, a handshake between
 * the two packages. `call` is Connect's UniversalClientFn over the same guarded handlers as its
 * `fetch`; `unary` takes and answers messages.
 */
const inProcessCall: unique symbol = Symbol.for("kagzi.inProcessCall");
const inProcessUnary: unique symbol = Symbol.for("kagzi.inProcessUnary");

/** The server's unary calls in memory (server/http/in_process_unary.ts). */
type Unary = (
  method: DescMethodUnary,
  header: Headers,
  message: unknown,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
) => Promise<{ header: Headers; trailer: Headers; message: unknown }>;

/** Unary calls through `unary`, with the transport's interceptors; streams through `streams`. */
function messageTransport(
  unary: Unary,
  streams: Transport,
  interceptors: Interceptor[],
): Transport {
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const service = method.parent;
      const call = callSignal(signal, timeoutMs);
      const inner = async (req: UnaryRequest<I, O>): Promise<UnaryResponse<I, O>> => {
        const res = await unary(method, req.header, req.message, req.signal, timeoutMs);
        const message = res.message as MessageShape<O>;
        return {
          stream: false,
          service,
          method,
          header: res.header,
          trailer: res.trailer,
          message,
        };
      };
      // The interceptors around the call, the first outermost (as connect applies them).
      const send = interceptors.reduceRight((next, i) => i(next), inner as unknown as AnyFn);
      const req: UnaryRequest<I, O> = {
        stream: false,
        service,
        method,
        requestMethod: "POST",
        url: `http://in-process.kagzi/${service.typeName}/${method.name}`,
        header: new Headers(header),
        contextValues: contextValues ?? createContextValues(),
        message: isMessage(input, method.input) ? input : create(method.input, input),
        signal: call.signal,
      };
      return send(req).then(
        (res) => {
          call.done();
          return res as UnaryResponse<I, O>;
        },
        (err) => {
          call.done();
          throw call.signal.aborted
            ? ConnectError.from(call.signal.reason, Code.Canceled)
            : ConnectError.from(err);
        },
      );
    },
    stream: (...args) => streams.stream(...args),
  };
}

/** What an interceptor wraps: a unary or a streaming call. */
type AnyFn = Parameters<Interceptor>[0];

/**
 * A call's signal: the caller's, and its deadline's. Connect's own (`runUnaryCall`) also aborts
 * it when the call is answered, to free an HTTP request's resources; in memory there are none,
 * and that abort's DOMException was the largest single cost of an in-process call.
 */
function callSignal(
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): { signal: AbortSignal; done: () => void } {
  const ctrl = new AbortController();
  const onAbort = () => ctrl.abort(signal!.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort);
  const deadline = () =>
    ctrl.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutMs !== undefined && timeoutMs <= 0) deadline();
  else if (timeoutMs !== undefined) timer = setTimeout(deadline, timeoutMs);
  return {
    signal: ctrl.signal,
    done: () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}
