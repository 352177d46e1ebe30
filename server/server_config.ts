/**
 * The shape of the server's settings and their defaults: what `config.ts` loads from flags and
 * environment and `serverless_config.ts` adjusts for serverless hosts (both import it; neither
 * imports the other's caller).
 */
import type { LogLevel } from "./log.ts";

/** Everything the server can be told. */
export interface ServerConfig {
  /** Interface to bind. @default "127.0.0.1" */
  host: string;
  /** Connect / gRPC-Web port (HTTP/1.1 and h2c). @default 50051 */
  port: number;
  /** Native gRPC port on node:http2; 0 turns it off. @default 50052 */
  grpcPort: number;
  /** Postgres URL; empty uses the embedded database. @default "" */
  databaseUrl: string;
  /** Where the embedded database keeps its files. @default "./.kagzi" */
  dataDir: string;
  /** The least severe events logged. @default "info" */
  logLevel: LogLevel;
  /** Origins allowed by CORS; "*" allows any. @default ["*"] */
  corsOrigins: string[];
  /** How long PollTask waits for work before answering empty, in ms. @default 30000 */
  pollTimeoutMs: number;
  /** How long a claim lasts without a heartbeat, in ms. @default 30000 */
  leaseMs: number;
  /** How often workers heartbeat, in ms. @default 5000 */
  heartbeatIntervalMs: number;
  /** How often the ticker looks for due work, in ms. @default 1000 */
  tickIntervalMs: number;
  /** Runs a bulk operation acts on per batch (one transaction). @default 200 */
  bulkBatchSize: number;
  /**
   * The least rest between two batches of a bulk operation, in ms; the rest is at least as long
   * as the batch took, too. @default 20
   */
  bulkPauseMs: number;
  /** Postgres pool size. @default 10 */
  poolSize: number;
  /**
   * API keys accepted in `authorization: Bearer <key>`, each with the namespaces it
   * covers; empty accepts every call.
   * @default []
   */
  apiKeys: ApiKey[];
  /** Unconsumed signals one run may hold; more are refused with RESOURCE_EXHAUSTED. @default 1000 */
  maxPendingSignals: number;
  /**
   * The base URL token callback URLs start with (`https://kagzi.example.com`): how callers outside
   * reach this server. Empty: the origin of the request that made the URL (the worker's).
   * @default ""
   */
  publicUrl: string;
  /** Serve Prometheus metrics on `GET /metrics` of the Connect port. @default true */
  metrics: boolean;
  /**
   * Serverless mode (Deno Deploy): only `Deno.serve`, no long-lived timers, the engine's periodic
   * work driven by a `Deno.cron` job and by requests. On when `DENO_DEPLOY=true`.
   * @default false
   */
  serverless: boolean;
  /** Apply migrations at start. @default true (false in serverless mode) */
  migrate: boolean;
  /** The longest any request waits (PollTask, GetWorkflow's wait), in ms. @default 60000 */
  maxWaitMs: number;
  /**
   * How long finished runs (with their steps and payloads) are kept after they
   * finish, in ms; 0 keeps them forever. @default 604800000 (7 days)
   */
  retentionMs: number;
  /** Per-namespace retention in ms, overriding `retentionMs` (0: forever). @default {} */
  retentionByNamespace: Record<string, number>;
}

/** An API key and what it may reach. */
export interface ApiKey {
  /** The secret, as sent in `authorization: Bearer <key>`. */
  key: string;
  /** The namespaces the key covers; `"*"` covers every namespace. */
  namespaces: "*" | string[];
  /** Whether the key may make server-wide calls (calls that name no namespace). */
  admin: boolean;
}

/** The defaults every setting falls back to. */
export const defaults: ServerConfig = {
  host: "127.0.0.1",
  port: 50051,
  grpcPort: 50052,
  databaseUrl: "",
  dataDir: "./.kagzi",
  logLevel: "info",
  corsOrigins: ["*"],
  pollTimeoutMs: 30_000,
  leaseMs: 30_000,
  heartbeatIntervalMs: 5_000,
  tickIntervalMs: 1_000,
  bulkBatchSize: 200,
  bulkPauseMs: 20,
  poolSize: 10,
  apiKeys: [],
  maxPendingSignals: 1000,
  publicUrl: "",
  metrics: true,
  serverless: false,
  migrate: true,
  maxWaitMs: 60_000,
  retentionMs: 7 * 86_400_000,
  retentionByNamespace: {},
};
