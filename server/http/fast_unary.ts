/**
 * Connect unary calls in binary (`application/proto`, no compression) answered without Connect's
 * HTTP machinery: the body is read and decoded once, the implementation is called through the
 * same key check and interceptors (`in_process_unary.ts`), and the answer or error is written
 * in Connect's unary format with connect-es's own helpers. Per call this saves the request and
 * response streams, the async iterables, the second decode of the request guard and the linked
 * abort controllers — most of the server's CPU per call that is not the handler's (a quarter to a
 * third of a millisecond on the development VM). Everything else (JSON, gRPC-Web, compression,
 * GET, a refused key, a body that does not decode) goes the full way, which names the problem.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { mergeNonProtocolHeaders } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorToJsonBytes,
  parseTimeout,
  trailerMux,
} from "@connectrpc/connect/protocol-connect";
import type { ApiKeyCheck } from "./auth.ts";
import type { UnaryAnswer, UnaryCall, UnarySpec } from "./in_process_unary.ts";

/** Calls a unary implementation (`unaryInvoker`). */
type Invoke = (spec: UnarySpec, call: UnaryCall, message: unknown) => Promise<UnaryAnswer>;

/**
 * Answers `req` when it is a plain binary Connect unary call of a method in `specs`; otherwise
 * returns the request for the full handler (rebuilt with its body when it was read).
 */
export function fastUnary(
  specs: ReadonlyMap<string, UnarySpec>,
  invoke: Invoke,
  keys: ApiKeyCheck | undefined,
  maxBytes: number,
): (req: Request, path: string) => Promise<Response | Request> {
  return async (req, path) => {
    const spec = specs.get(path);
    const length = Number(req.headers.get("content-length") ?? NaN);
    if (
      !spec || req.method !== "POST" || req.headers.get("content-type") !== "application/proto" ||
      !(length <= maxBytes) || req.headers.has("content-encoding")
    ) return req;
    const timeout = parseTimeout(req.headers.get("connect-timeout-ms"), Number.MAX_SAFE_INTEGER);
    if (timeout.error) return req;
    let scope;
    if (keys) {
      const checked = keys.authenticate(spec.method.name, req.headers);
      // Refused unread, in the full handler's words.
      if (!("namespaces" in checked)) return req;
      scope = checked;
    }
    const bytes = new Uint8Array(await req.arrayBuffer());
    let message;
    try {
      message = fromBinary(spec.method.input, bytes);
    } catch {
      return new Request(req, { body: bytes });
    }
    const call = {
      header: req.headers,
      signal: req.signal,
      timeoutMs: timeout.timeoutMs,
      url: req.url,
      scope,
    };
    try {
      const out = await invoke(spec, call, message);
      const body = toBinary(spec.method.output, out.message as never);
      const header = trailerMux(out.header, out.trailer);
      header.set("content-type", "application/proto");
      return new Response(body, { status: 200, headers: header });
    } catch (err) {
      const error = err instanceof ConnectError
        ? err
        : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
      const header = new Headers({ "content-type": "application/json" });
      if (!error.isWireError) mergeNonProtocolHeaders(header, error.metadata);
      return new Response(errorToJsonBytes(error, undefined) as Uint8Array<ArrayBuffer>, {
        status: codeToHttpStatus(error.code),
        headers: header,
      });
    }
  };
}
