/**
 * Loading the server configuration: flags and environment over the defaults of
 * `server_config.ts` (or serverless mode's, from `serverless_config.ts`), validated.
 */
import { parseArgs } from "node:util";
import { parseDuration } from "@kagzi/sdk/duration";
import { logLevels } from "./log.ts";
import { type ApiKey, defaults, type ServerConfig } from "./server_config.ts";
import {
  isServerless,
  postgresUrlFromPgEnv,
  serverlessBase,
  serverlessProblem,
} from "./serverless_config.ts";

export { type ApiKey, defaults, type ServerConfig } from "./server_config.ts";

/** A setting that could not be used, named by its flag and environment variable. */
export class ConfigError extends Error {
  /** Creates the error; `message` names the flag, the variable and the value. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Key = keyof ServerConfig;
type Kind = "string" | "int" | "list" | "bool" | "flag" | "keys" | "duration" | "durations";
/** Every setting: its key, flag, environment variable and how its text is read. */
export const settings: readonly { key: Key; flag: string; env: string; kind: Kind }[] = [
  { key: "host", flag: "host", env: "KAGZI_HOST", kind: "string" },
  { key: "port", flag: "port", env: "KAGZI_PORT", kind: "int" },
  { key: "grpcPort", flag: "grpc-port", env: "KAGZI_GRPC_PORT", kind: "int" },
  { key: "databaseUrl", flag: "database-url", env: "DATABASE_URL", kind: "string" },
  { key: "dataDir", flag: "data-dir", env: "KAGZI_DATA_DIR", kind: "string" },
  { key: "logLevel", flag: "log-level", env: "KAGZI_LOG_LEVEL", kind: "string" },
  { key: "corsOrigins", flag: "cors-origins", env: "KAGZI_CORS_ORIGINS", kind: "list" },
  { key: "pollTimeoutMs", flag: "poll-timeout-ms", env: "KAGZI_POLL_TIMEOUT_MS", kind: "int" },
  { key: "leaseMs", flag: "lease-ms", env: "KAGZI_LEASE_MS", kind: "int" },
  {
    key: "heartbeatIntervalMs",
    flag: "heartbeat-interval-ms",
    env: "KAGZI_HEARTBEAT_INTERVAL_MS",
    kind: "int",
  },
  { key: "tickIntervalMs", flag: "tick-interval-ms", env: "KAGZI_TICK_INTERVAL_MS", kind: "int" },
  { key: "bulkBatchSize", flag: "bulk-batch-size", env: "KAGZI_BULK_BATCH_SIZE", kind: "int" },
  { key: "bulkPauseMs", flag: "bulk-pause-ms", env: "KAGZI_BULK_PAUSE_MS", kind: "int" },
  { key: "poolSize", flag: "pool-size", env: "KAGZI_POOL_SIZE", kind: "int" },
  { key: "apiKeys", flag: "api-keys", env: "KAGZI_API_KEYS", kind: "keys" },
  {
    key: "maxPendingSignals",
    flag: "max-pending-signals",
    env: "KAGZI_MAX_PENDING_SIGNALS",
    kind: "int",
  },
  { key: "publicUrl", flag: "public-url", env: "KAGZI_PUBLIC_URL", kind: "string" },
  { key: "metrics", flag: "metrics", env: "KAGZI_METRICS", kind: "flag" },
  { key: "serverless", flag: "serverless", env: "KAGZI_SERVERLESS", kind: "flag" },
  { key: "migrate", flag: "migrate", env: "KAGZI_MIGRATE", kind: "flag" },
  { key: "maxWaitMs", flag: "max-wait-ms", env: "KAGZI_MAX_WAIT_MS", kind: "int" },
  { key: "retentionMs", flag: "retention", env: "KAGZI_RETENTION", kind: "duration" },
  {
    key: "retentionByNamespace",
    flag: "retention-namespaces",
    env: "KAGZI_RETENTION_NAMESPACES",
    kind: "durations",
  },
];

const ranges: Partial<Record<Key, [number, number]>> = {
  port: [0, 65535],
  grpcPort: [0, 65535],
  pollTimeoutMs: [100, 300_000],
  leaseMs: [1_000, 3_600_000],
  heartbeatIntervalMs: [100, 600_000],
  tickIntervalMs: [50, 60_000],
  bulkBatchSize: [1, 10_000],
  bulkPauseMs: [0, 600_000],
  poolSize: [1, 1000],
  maxPendingSignals: [1, 1_000_000],
  maxWaitMs: [1_000, 300_000],
};

/** Reads flags (which win) and environment over the defaults; throws ConfigError naming the setting. */
export function loadConfig(
  env: Record<string, string | undefined>,
  args: string[] = [],
  base: ServerConfig = defaults,
): ServerConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(
        settings.map((s) => [s.flag, { type: s.kind === "flag" ? "boolean" : "string" }] as const),
      ),
      strict: true,
      allowPositionals: false,
      // Boolean settings: `--metrics` turns one on, `--no-metrics` off.
      allowNegative: true,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new ConfigError(`Invalid command line: ${(err as Error).message}`);
  }
  const serverless = isServerless(env, parsed.serverless as boolean | undefined);
  const config: ServerConfig = { ...(serverless ? serverlessBase(base, env) : base) };
  for (const s of settings) {
    const raw = parsed[s.flag] ?? env[s.env];
    if (raw === undefined) continue;
    const name = `--${s.flag} / ${s.env}`;
    if (typeof raw === "boolean") {
      (config[s.key] as boolean) = raw;
    } else if (s.kind === "int") {
      const n = Number(raw);
      const [lo, hi] = ranges[s.key] ?? [0, Number.MAX_SAFE_INTEGER];
      if (!/^\d+$/.test(raw.trim()) || n < lo || n > hi) {
        throw new ConfigError(
          `Invalid ${name}: "${raw}" is not a whole number from ${lo} to ${hi}`,
        );
      }
      (config[s.key] as number) = n;
    } else if (s.kind === "keys") {
      config.apiKeys = parseApiKeys(raw);
    } else if (s.kind === "bool" || s.kind === "flag") {
      const on = ["true", "1", "on", "yes"].includes(raw.trim().toLowerCase());
      if (!on && !["false", "0", "off", "no"].includes(raw.trim().toLowerCase())) {
        throw new ConfigError(`Invalid ${name}: "${raw}" is not true or false`);
      }
      (config[s.key] as boolean) = on;
    } else if (s.kind === "duration") {
      (config[s.key] as number) = retention(name, raw);
    } else if (s.kind === "durations") {
      (config[s.key] as Record<string, number>) = namespaceRetention(name, raw);
    } else if (s.kind === "list") {
      (config[s.key] as string[]) = raw.split(",").map((x) => x.trim()).filter(Boolean);
    } else {
      (config[s.key] as string) = raw;
    }
  }
  if (!logLevels.includes(config.logLevel)) {
    throw new ConfigError(
      `Invalid --log-level / KAGZI_LOG_LEVEL: "${config.logLevel}" is not one of ${
        logLevels.join(", ")
      }`,
    );
  }
  if (config.host.trim() === "") throw new ConfigError("Invalid --host / KAGZI_HOST: empty");
  if (config.heartbeatIntervalMs * 2 > config.leaseMs) {
    // Workers extend their leases by heartbeats: one lease must cover two beats, or a step
    // longer than the lease loses its run at every attempt and never finishes.
    throw new ConfigError(
      `Invalid --heartbeat-interval-ms / KAGZI_HEARTBEAT_INTERVAL_MS: ` +
        `${config.heartbeatIntervalMs} ms is more than half of --lease-ms / KAGZI_LEASE_MS ` +
        `(${config.leaseMs} ms); workers renew their leases by heartbeat, so the lease must ` +
        `cover at least two (e.g. --lease-ms ${config.heartbeatIntervalMs * 6})`,
    );
  }
  if (config.serverless) {
    config.databaseUrl ||= postgresUrlFromPgEnv(env);
    const problem = serverlessProblem(config);
    if (problem) throw new ConfigError(problem);
  }
  if (config.publicUrl && !/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(config.publicUrl)) {
    throw new ConfigError(
      `Invalid --public-url / KAGZI_PUBLIC_URL: "${config.publicUrl}" is not an http:// or ` +
        `https:// URL without query or fragment (like "https://kagzi.example.com")`,
    );
  }
  if (config.databaseUrl && !/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new ConfigError(
      'Invalid --database-url / DATABASE_URL: expected a "postgres://" URL',
    );
  }
  return config;
}

const namespaceList = "[A-Za-z0-9][A-Za-z0-9._-]*(?:\\s*,\\s*[A-Za-z0-9][A-Za-z0-9._-]*)*";
/** `key=scope` where the scope is `*` or namespaces; the key is all before the last such `=`. */
const scopedKey = new RegExp(`^([\\s\\S]*)=\\s*(\\*|${namespaceList})\\s*$`);

/**
 * Reads `--api-keys`: either plain keys separated by commas (`k1,k2`: each covers every
 * namespace and server-wide calls, as before scopes existed), or entries separated by
 * semicolons, each `key=ns1,ns2` (only those namespaces), `key=*` (every namespace and
 * server-wide calls) or a plain `key` (the same as `key=*`).
 */
export function parseApiKeys(raw: string): ApiKey[] {
  const name = "--api-keys / KAGZI_API_KEYS";
  const scopedForm = raw.includes(";") || scopedKey.test(raw.trim());
  const keys: ApiKey[] = [];
  for (const entry of raw.split(scopedForm ? ";" : ",").map((e) => e.trim()).filter(Boolean)) {
    const m = scopedForm ? scopedKey.exec(entry) : null;
    const key = m ? m[1].trim() : entry;
    const scope = m ? m[2].split(",").map((n) => n.trim()) : ["*"];
    if (!/^[\x21-\x7e]{16,512}$/.test(key) || /[,;]/.test(key)) {
      throw new ConfigError(
        `Invalid ${name}: each key must be 16 to 512 printable ASCII characters without ` +
          `spaces, commas or semicolons (a key of ${key.length} characters is not); write ` +
          `scoped keys as "key1=ns1,ns2;key2=*"`,
      );
    }
    if (keys.some((k) => k.key === key)) {
      throw new ConfigError(`Invalid ${name}: a key is listed twice`);
    }
    const tooLong = scope.find((n) => n.length > 128);
    if (tooLong) {
      throw new ConfigError(`Invalid ${name}: namespace "${tooLong.slice(0, 32)}..." is too long`);
    }
    const all = scope.includes("*");
    keys.push({ key, namespaces: all ? "*" : [...new Set(scope)], admin: all });
  }
  return keys;
}

/** A retention: a duration of at least 1 s, or 0 / "off" for forever. */
function retention(name: string, raw: string): number {
  const text = raw.trim().toLowerCase();
  const ms = text === "off" ? 0 : parseDurationMs(text);
  if (ms === undefined || (ms !== 0 && ms < 1_000) || ms > 100 * 365 * 86_400_000) {
    throw new ConfigError(
      `Invalid ${name}: "${raw}" is not a duration from 1s to 100 years (like "7d", "12h", ` +
        `"30s") or "0" / "off" to keep finished runs forever`,
    );
  }
  return ms;
}

/** Milliseconds of a duration in the SDK's grammar ("7d", "1 day", "2 weeks"), or undefined. */
function parseDurationMs(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

/** `orders=30d,tmp=1h` → { orders: 2592000000, tmp: 3600000 }. */
function namespaceRetention(name: string, raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of raw.split(",").map((x) => x.trim()).filter(Boolean)) {
    const [ns, value, ...rest] = item.split("=").map((x) => x.trim());
    if (value === undefined || rest.length || !/^[A-Za-z0-9._-]{1,128}$/.test(ns)) {
      throw new ConfigError(
        `Invalid ${name}: "${item}" is not <namespace>=<duration> (e.g. "orders=30d,tmp=1h")`,
      );
    }
    out[ns] = retention(`${name} for namespace "${ns}"`, value);
  }
  return out;
}
