/**
 * What a worker reads of the runtime it is in, Deno or Node, without depending on either:
 * the host name and process id it registers with, and SIGINT/SIGTERM for a graceful shutdown.
 */

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** The machine's host name, or "" where the runtime does not tell (or forbids it). */
export function hostname(): string {
  try {
    return g.Deno?.hostname?.() ?? "";
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
