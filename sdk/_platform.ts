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

/** Calls `onSignal` on SIGINT and SIGTERM; returns the function that stops listening. */
export function listenForSignals(onSignal: () => void): () => void {
  const names = ["SIGINT", "SIGTERM"];
  if (g.Deno?.addSignalListener) {
    for (const s of names) g.Deno.addSignalListener(s, onSignal);
    return () => {
      for (const s of names) g.Deno.removeSignalListener(s, onSignal);
    };
  }
  if (g.process?.on) {
    for (const s of names) g.process.on(s, onSignal);
    return () => {
      for (const s of names) g.process.off(s, onSignal);
    };
  }
  return () => {};
}
