/**
 * A real HTTP proxy in front of a real server that answers one procedure as a server without it
 * does (404, which Connect reads as UNIMPLEMENTED) and passes every other call on: an older
 * server, for the tests of the SDK's fallbacks.
 */
import { freePort } from "./_server.ts";

/** The proxy: its URL, how often it refused the procedure, and its shutdown. */
export interface OlderServer {
  url: string;
  refused(): number;
  shutdown(): Promise<void>;
}

/** Serves `target` on a free port without `procedure` (e.g. "kagzi.v1.WorkflowService/WaitRuns"). */
export function olderServer(target: string, procedure: string): OlderServer {
  let refused = 0;
  const port = freePort();
  const proxy = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen() {},
    // A call the client cut short cancels its forwarded call.
    onError: () => new Response(null, { status: 502 }),
  }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === `/${procedure}`) {
      refused++;
      await req.body?.cancel();
      return new Response("404 page not found", { status: 404 });
    }
    const res = await fetch(new URL(url.pathname + url.search, target), {
      method: req.method,
      headers: req.headers,
      body: req.body ? await req.arrayBuffer() : undefined,
      signal: req.signal,
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    refused: () => refused,
    shutdown: () => proxy.shutdown(),
  };
}
