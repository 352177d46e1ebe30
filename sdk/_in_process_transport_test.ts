import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { GetWorkflowResponseSchema, WorkflowService } from "@kagzi/proto";
import { inProcessTransport } from "./_in_process_transport.ts";

// The server side of the handshake, as the server package offers it: messages in and out.
type Answer = (header: Headers, message: unknown, signal?: AbortSignal) => Promise<unknown>;
function serverAnswering(answer: Answer) {
  return {
    fetch: () => Promise.reject(new Error("unary calls go in memory")),
    [Symbol.for("kagzi.inProcessCall")]: () => Promise.reject(new Error("no streams here")),
    [Symbol.for("kagzi.inProcessUnary")]: async (
      _method: unknown,
      header: Headers,
      message: unknown,
      signal: AbortSignal | undefined,
    ) => ({
      header: new Headers(),
      trailer: new Headers(),
      message: await answer(header, message, signal),
    }),
  };
}

const method = WorkflowService.method.getWorkflow;
const untilAborted = (signal?: AbortSignal) =>
  new Promise((_, reject) => {
    if (signal!.aborted) reject(signal!.reason);
    signal!.addEventListener("abort", () => reject(signal!.reason));
  });

Deno.test("in-process unary calls: interceptors in order, messages, deadlines and the caller's abort", async () => {
  const seen: string[] = [];
  const tag = (name: string): Interceptor => (next) => async (req) => {
    seen.push(`${name}>`);
    req.header.set(`x-${name}`, "1");
    const res = await next(req);
    seen.push(`<${name}`);
    return res;
  };
  const transport = inProcessTransport(
    serverAnswering((header, message) => {
      seen.push(`server ${header.has("x-a") && header.has("x-b")}`);
      const req = message as { runId: string; $typeName: string };
      assert.equal(req.$typeName, "kagzi.v1.GetWorkflowRequest");
      return Promise.resolve(create(GetWorkflowResponseSchema, {}));
    }),
    "connect",
    [tag("a"), tag("b")],
  );
  const res = await transport.unary(method, undefined, undefined, undefined, { runId: "r1" });
  assert.equal(res.message.$typeName, "kagzi.v1.GetWorkflowResponse");
  assert.deepEqual(seen, ["a>", "b>", "server true", "<b", "<a"]);

  // The call's deadline aborts the server's view of it with DEADLINE_EXCEEDED.
  const slow = inProcessTransport(serverAnswering((_h, _m, s) => untilAborted(s)), "connect", []);
  await assert.rejects(
    slow.unary(method, undefined, 20, undefined, {}),
    (e) => e instanceof ConnectError && e.code === Code.DeadlineExceeded,
  );
  await assert.rejects(
    slow.unary(method, undefined, 0, undefined, {}),
    (e) => e instanceof ConnectError && e.code === Code.DeadlineExceeded,
  );
  // The caller's abort reaches the server, with the caller's reason.
  const abort = new AbortController();
  const call = slow.unary(method, abort.signal, undefined, undefined, {});
  abort.abort(new Error("given up"));
  await assert.rejects(call, (e) => e instanceof ConnectError && /given up/.test(e.message));
  // A server error comes back as a ConnectError, its code kept.
  const refusing = inProcessTransport(
    serverAnswering(() => Promise.reject(new ConnectError("no such run", Code.NotFound))),
    "connect",
    [],
  );
  await assert.rejects(
    refusing.unary(method, undefined, undefined, undefined, {}),
    (e) => e instanceof ConnectError && e.code === Code.NotFound && /no such run/.test(e.message),
  );
});
