/**
 * What the SDK reads of the runtime it is in (Deno, Node, Bun, a browser, Cloudflare Workers)
 * without importing any of them: the host name and process id a worker registers with,
 * SIGINT/SIGTERM for a graceful shutdown, and the `fetch` the Connect transports use.
 */

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** The machine's host name, or "" where the runtime does not tell (or forbids it). */
export function hostname(): string {
  try {
    if (g.Deno?.hostname) return g.Deno.hostname();
    // Node >= 20.16 and Bun: node:os without an import, so browser bundles stay free of node:*.
    return g.process?.getBuiltinModule?.("node:os")?.hostname?.() ?? "";
  } catch {
    return "";
  }
}

/** This process's id, or 0 where the runtime has none. */
export function pid(): number {
  return g.Deno?.pid ?? g.process?.pid ?? 0;
}

/** Calls `onSignal` with the signal's name on SIGINT and SIGTERM; returns the function that stops listening. */
export function listenForSignals(onSignal: (name: string) => void): () => void {
  const handlers = ["SIGINT", "SIGTERM"].map((s) => [s, () => onSignal(s)] as const);
  if (g.Deno?.addSignalListener) {
    for (const [s, h] of handlers) g.Deno.addSignalListener(s, h);
    return () => {
      for (const [s, h] of handlers) g.Deno.removeSignalListener(s, h);
    };
  }
  if (g.process?.on) {
    for (const [s, h] of handlers) g.process.on(s, h);
    return () => {
      for (const [s, h] of handlers) g.process.off(s, h);
    };
  }
  return () => {};
}

/**
 * The `fetch` for Connect and gRPC-Web, or undefined for the global one. Cloudflare Workers
 * (workerd) refuse `redirect: "error"`, which the Connect transports send; there redirects are
 * not followed (`"manual"`), so a redirect still fails the call, with its HTTP status.
 */
export function runtimeFetch(): typeof fetch | undefined {
  if (g.navigator?.userAgent !== "Cloudflare-Workers") return undefined;
  return (input, init) =>
    fetch(input, init?.redirect === "error" ? { ...init, redirect: "manual" } : init);
}
