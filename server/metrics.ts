/**
 * Prometheus metrics of a server, served as text on `GET /metrics` of the
 * Connect port (prom-client). Counters and histograms are updated where the
 * events happen (a start, a claim, a step's outcome, the end of a run, an RPC);
 * the gauges that need a query (queue backlog, worker health, unserved and
 * parked runs; `metrics_gauges.ts`) are refreshed at most once per `gaugeTtlMs`
 * however often, and by however many scrapers, the server is scraped. Labels are `namespace` and `workflow_type`, never a run id.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "./log.ts";
import type { Queryable } from "./store/db.ts";
import { createGauges } from "./metrics_gauges.ts";

/** How a run ended. */
export type RunEnd = "completed" | "failed" | "cancelled";

/** What the services and the engine report; every method is cheap and never throws. */
export interface ServerMetrics {
  /** A run was stored (StartWorkflow, a schedule's fire, …). */
  runStarted(namespace: string, workflowType: string): void;
  /** A run reached a terminal state `durationS` seconds after it was started. */
  runFinished(namespace: string, workflowType: string, status: RunEnd, durationS: number): void;
  /** A worker claimed a run that had been due for `queuedS` seconds. */
  runClaimed(namespace: string, workflowType: string, queuedS: number): void;
  /** A step attempt was stored as completed or failed. */
  stepAttempt(namespace: string, workflowType: string, status: "completed" | "failed"): void;
  /**
   * How a poll got work: `claimed` / `empty` for a claim query that found runs or none,
   * `matched` for a run handed to it directly (no claim query): a start's, or one its suspension
   * left due at once.
   */
  pollClaim(namespace: string, result: "claimed" | "empty" | "matched", runs?: number): void;
  /** One claim query served `polls` polls (those that asked while the last one ran). */
  claimPolls(namespace: string, polls: number): void;
  /** A poll began (`1`) or stopped (`-1`) waiting for work, its claim having found none. */
  pollWaiting(namespace: string, delta: 1 | -1): void;
  /** A group-commit batch failed as a whole and was written again item by item. */
  batchSplit(batch: string): void;
  /**
   * A held wait (a short sleep kept on its worker) ended: `resumed` (the worker goes on), `lost`
   * (cancelled, paused or reclaimed meanwhile) or `hung_up` (the caller left: suspended).
   */
  waitHeld(namespace: string, outcome: "resumed" | "lost" | "hung_up"): void;
}

/** The metrics of a server with their registry, RPC interceptor and HTTP endpoint. */
export interface MetricsEndpoint extends ServerMetrics {
  /** Times every RPC by method and outcome code. */
  readonly interceptor: Interceptor;
  /** Answers `GET /metrics` (Bearer-protected when `apiKeys` are set). */
  handle(req: Request): Promise<Response>;
  /** The registry, e.g. to add an application's own metrics. */
  readonly registry: Registry;
}

/** Options of {@linkcode createMetrics}. */
export interface MetricsOptions {
  db: Queryable;
  log: Logger;
  heartbeatIntervalMs: number;
  /**
   * The server's API keys. When there are any, a scrape must send one that covers every
   * namespace (`authorization: Bearer <key>`): the metrics name every namespace.
   */
  apiKeys: { key: string; admin: boolean }[];
  /** How long gauge values read from the database are reused. @default 5000 */
  gaugeTtlMs?: number;
}

/** Metrics that record nothing, for a server with `--no-metrics`. */
export const noMetrics: ServerMetrics = {
  runStarted() {},
  runFinished() {},
  runClaimed() {},
  stepAttempt() {},
  pollClaim() {},
  claimPolls() {},
  pollWaiting() {},
  batchSplit() {},
  waitHeld() {},
};

const runLabels = ["namespace", "workflow_type"] as const;
const durationBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400];
const queueBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const rpcBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Creates the metrics of one server (its own registry: servers in one process do not mix). */
export function createMetrics(options: MetricsOptions): MetricsEndpoint {
  const registry = new Registry();
  const registers = [registry];
  const started = new Counter({
    name: "kagzi_runs_started_total",
    help: "Workflow runs started.",
    labelNames: runLabels,
    registers,
  });
  const claims = new Counter({
    name: "kagzi_claim_queries_total",
    help:
      "Claim queries run by polling workers, by whether they found runs (claimed) or not (empty).",
    labelNames: ["namespace", "result"],
    registers,
  });
  const claimPolls = new Counter({
    name: "kagzi_claim_polls_total",
    help: "Polls served by claim queries: polls that ask while a claim of the same workflow " +
      "types runs share the next one (this over kagzi_claim_queries_total: polls per query).",
    labelNames: ["namespace"],
    registers,
  });
  const waiting = new Gauge({
    name: "kagzi_polls_waiting",
    help: "Polls waiting for work (their claim found none): idle worker capacity asking.",
    labelNames: ["namespace"],
    registers,
  });
  const matched = new Counter({
    name: "kagzi_runs_matched_total",
    help:
      "Runs handed straight to a waiting poll (no claim query): by their start, or by a suspension that left them due at once.",
    labelNames: ["namespace"],
    registers,
  });
  const held = new Counter({
    name: "kagzi_waits_held_total",
    help:
      "Short sleeps, retries and rate limit waits kept on their worker (Sleep with hold), by how they ended: resumed, lost (cancelled, paused or reclaimed meanwhile) or hung_up (suspended).",
    labelNames: ["namespace", "outcome"],
    registers,
  });
  const finished = new Counter({
    name: "kagzi_runs_finished_total",
    help: "Workflow runs that reached a terminal state, by status.",
    labelNames: [...runLabels, "status"],
    registers,
  });
  const duration = new Histogram({
    name: "kagzi_run_duration_seconds",
    help: "Time from a run's start to its end, by terminal status.",
    labelNames: [...runLabels, "status"],
    buckets: durationBuckets,
    registers,
  });
  const scheduleToStart = new Histogram({
    name: "kagzi_schedule_to_start_seconds",
    help: "Time a due run waited in the queue before a worker claimed it.",
    labelNames: runLabels,
    buckets: queueBuckets,
    registers,
  });
  const stepAttempts = new Counter({
    name: "kagzi_step_attempts_total",
    help: "Step attempts stored, by outcome (completed or failed).",
    labelNames: [...runLabels, "status"],
    registers,
  });
  const rpcDuration = new Histogram({
    name: "kagzi_rpc_duration_seconds",
    help: "Time the server took to answer an RPC, by method and code.",
    labelNames: ["method", "code"],
    buckets: rpcBuckets,
    registers,
  });
  const inFlight = new Gauge({
    name: "kagzi_rpcs_in_flight",
    help: "RPCs being served now (open long polls and result waits included), by method.",
    labelNames: ["method"],
    registers,
  });

  const splits = new Counter({
    name: "kagzi_batch_splits_total",
    help: "Group-commit batches that failed as a whole and were written again item by item, " +
      "by batch (starts, step_outputs, completions).",
    labelNames: ["batch"],
    registers,
  });

  createGauges(registers, options);

  const check = scrapeAuth(options.apiKeys);
  return {
    registry,
    runStarted(namespace, workflowType) {
      started.inc({ namespace, workflow_type: workflowType });
    },
    runFinished(namespace, workflowType, status, durationS) {
      const labels = { namespace, workflow_type: workflowType, status };
      finished.inc(labels);
      duration.observe(labels, Math.max(0, durationS));
    },
    runClaimed(namespace, workflowType, queuedS) {
      scheduleToStart.observe({ namespace, workflow_type: workflowType }, Math.max(0, queuedS));
    },
    stepAttempt(namespace, workflowType, status) {
      stepAttempts.inc({ namespace, workflow_type: workflowType, status });
    },
    pollClaim(namespace, result, runs = 1) {
      if (result === "matched") matched.inc({ namespace }, runs);
      else claims.inc({ namespace, result });
    },
    claimPolls(namespace, polls) {
      claimPolls.inc({ namespace }, polls);
    },
    pollWaiting(namespace, delta) {
      waiting.inc({ namespace }, delta);
    },
    batchSplit(batch) {
      splits.inc({ batch });
    },
    waitHeld(namespace, outcome) {
      held.inc({ namespace, outcome });
    },
    interceptor: (next) => async (req) => {
      const method = req.method.name;
      const end = rpcDuration.startTimer({ method });
      inFlight.inc({ method });
      try {
        const res = await next(req);
        end({ code: "ok" });
        return res;
      } catch (err) {
        end({ code: codeName(ConnectError.from(err).code) });
        throw err;
      } finally {
        inFlight.dec({ method });
      }
    },
    async handle(req) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("Use GET /metrics\n", { status: 405, headers: { allow: "GET, HEAD" } });
      }
      const refused = check(req.headers.get("authorization"));
      if (refused.startsWith("403 ")) return new Response(`${refused.slice(4)}\n`, { status: 403 });
      if (refused) {
        return new Response(`${refused}\n`, {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="kagzi"' },
        });
      }
      const body = await registry.metrics();
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { "content-type": registry.contentType },
      });
    },
  };
}

/** A check of the scrape's Bearer key; returns why it is refused (403: a scoped key), or "". */
function scrapeAuth(keys: { key: string; admin: boolean }[]): (header: string | null) => string {
  if (keys.length === 0) return () => "";
  const digest = (key: string): Uint8Array => createHash("sha256").update(key).digest();
  const accepted = keys.map((k) => ({ digest: digest(k.key), admin: k.admin }));
  return (header) => {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return 'This server requires an API key: send "authorization: Bearer <key>"';
    const given = digest(match[1]);
    // Compare with every key so the time taken does not tell which one nearly matched.
    let found: { admin: boolean } | undefined;
    for (const key of accepted) if (timingSafeEqual(given, key.digest)) found = key;
    if (!found) return 'The API key in the "authorization" header is not accepted';
    return found.admin
      ? ""
      : "403 The metrics cover every namespace: use a key for all namespaces (*)";
  };
}

/** A Connect code as a label value: "not_found", "unavailable", … */
function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
