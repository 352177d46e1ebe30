/** Reads a server's `GET /metrics` (Prometheus text) in tests: the sum of a metric's samples. */

/**
 * Sums the samples of `name` whose labels include `labels` (0 when there are none); `get` asks
 * (`fetch`, or an in-process server's handler).
 */
export async function metricSum(
  url: string,
  name: string,
  labels: Record<string, string> = {},
  headers: HeadersInit = {},
  get: (url: string, init: RequestInit) => Promise<Response> = fetch,
): Promise<number> {
  const res = await get(`${url}/metrics`, { headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}/metrics: ${res.status} ${text}`);
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[l[1]] = l[2];
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** How many calls of an RPC method (e.g. "PollTask") the server is answering right now. */
export function inFlight(url: string, method: string): Promise<number> {
  return metricSum(url, "kagzi_rpcs_in_flight", { method });
}
