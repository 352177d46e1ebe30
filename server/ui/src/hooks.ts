/** Loading data into a screen: once, again when inputs change, and live while wanted. */
import { useEffect, useRef, useState } from "preact/hooks";
import { describeError } from "./format.ts";

/** What a load produced so far. */
export interface Loaded<T> {
  data: T | undefined;
  error: string;
  loading: boolean;
  /** Loads again now. */
  reload: () => void;
}

/**
 * Calls `load` when `key` changes, and every `everyMs` while `live` is true and the page is
 * visible. A slow answer for an old key never overwrites the answer for the current one.
 */
export function useLoad<T>(
  key: string,
  load: () => Promise<T>,
  options: { live?: boolean; everyMs?: number } = {},
): Loaded<T> {
  const [state, setState] = useState<{ key: string; data?: T; error: string; loading: boolean }>(
    { key, error: "", loading: true },
  );
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const run = () => {
    const g = ++generation.current;
    setState((s) => (s.key === key ? { ...s, loading: true } : { key, error: "", loading: true }));
    loadRef.current().then(
      (data) => g === generation.current && setState({ key, data, error: "", loading: false }),
      (err) =>
        g === generation.current &&
        setState((s) => ({ ...s, key, error: describeError(err), loading: false })),
    );
  };
  useEffect(run, [key]);
  useEffect(() => {
    if (!options.live) return;
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") run();
    }, options.everyMs ?? 3_000);
    return () => clearInterval(timer);
  }, [key, options.live, options.everyMs]);
  const fresh = state.key === key;
  return {
    data: fresh ? state.data : undefined,
    error: state.error,
    loading: state.loading,
    reload: run,
  };
}
