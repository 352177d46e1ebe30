/** Plain-words formatting of times, durations and errors for the dashboard. */
import { KagziError } from "@kagzi/sdk/client";

/** "1.2 s", "3 min 4 s", "2 h 5 min", "3 d 4 h"; "" when unknown. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1_000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long from `start` to `end` (or to now while it goes on). */
export function elapsed(start: Date | undefined, end: Date | undefined, now = Date.now()): string {
  if (!start) return "";
  return formatDuration((end?.getTime() ?? now) - start.getTime());
}

/** A local date and time, to the second: "2026-11-23 15:04:05". */
export function formatTime(d: Date | undefined): string {
  if (!d) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "in 5 min", "3 s ago". */
export function relative(d: Date | undefined, now = Date.now()): string {
  if (!d) return "";
  const diff = d.getTime() - now;
  const text = formatDuration(Math.abs(diff));
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

const codeWords: Record<string, string> = {
  NOT_FOUND: "Not found",
  INVALID_ARGUMENT: "Invalid input",
  PRECONDITION_FAILED: "Not possible now",
  CONFLICT: "Conflict",
  UNAUTHORIZED: "Not signed in",
  PERMISSION_DENIED: "Not allowed",
  UNAVAILABLE: "Server unreachable",
  TIMEOUT: "Timed out",
  RESOURCE_EXHAUSTED: "Too many requests",
  INTERNAL: "Server error",
  CANCELLED: "Cancelled",
};

/** An error as one sentence for people: what kind of failure, then the server's message. */
export function describeError(err: unknown): string {
  // The dashboard's own checks (e.g. a payload that is not JSON) throw plain errors.
  if (!(err instanceof KagziError) && err instanceof Error) return err.message;
  const e = KagziError.from(err);
  return `${codeWords[e.code] ?? e.code}: ${e.message}`;
}

/** JSON for display (2-space indent); `undefined` shows as "—". */
export function toJson(value: unknown): string {
  if (value === undefined) return "—";
  try {
    return JSON.stringify(value, null, 2) ?? "—";
  } catch (err) {
    return `(cannot show: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/** The first 8 characters of a UUID, for tables. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/** Whether `s` looks like a run id. */
export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s.trim());
}
