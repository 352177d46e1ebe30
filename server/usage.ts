/**
 * `server/main.ts --help`: every setting with its flag, environment variable and default, from
 * the same list `loadConfig` reads (what each means: the README's "Configuration").
 */
import { defaults, settings } from "./config.ts";

/** The text `--help` prints. */
export function usage(): string {
  const rows = settings.map((s) => {
    const flag = s.kind === "flag" ? `--[no-]${s.flag}` : `--${s.flag} ${placeholder[s.kind]}`;
    const d = defaults[s.key];
    return [flag, s.env, shown(s.kind === "duration" ? days(d as number) : d)];
  });
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return [
    "Usage: deno run -A --unstable-no-legacy-abort server/main.ts [flags]   (deno task start)",
    "",
    "Serves kagzi.v1 (Connect, gRPC-Web and native gRPC). Every flag has an environment",
    'variable; flags win. What each does: the README\'s "Configuration".',
    "",
    ...rows.map(([f, e, d]) => `  ${f.padEnd(w0)}  ${e.padEnd(w1)}  ${d}`),
    "  --help, -h",
  ].join("\n");
}

/** What a flag's value looks like, by how it is read. */
const placeholder: Record<(typeof settings)[number]["kind"], string> = {
  string: "TEXT",
  int: "N",
  list: "A,B",
  bool: "true|false",
  flag: "",
  keys: "KEYS",
  duration: "DURATION",
  durations: "NS=DURATION,…",
};

/** A default retention in days (0: off). */
function days(ms: number): string {
  return ms === 0 ? "off" : `${ms / 86_400_000}d`;
}

function shown(value: unknown): string {
  if (value === undefined || value === "" || (Array.isArray(value) && !value.length)) {
    return "(unset)";
  }
  if (typeof value === "object" && !Array.isArray(value)) {
    return Object.keys(value as object).length ? JSON.stringify(value) : "(unset)";
  }
  return `(default ${Array.isArray(value) ? value.join(",") : String(value)})`;
}
