/** Discovery and operations through AdminService: health, server info, workers, steps, versions. */
import { stepAttemptFromWire, workerFromWire } from "../_convert.ts";
import type { Health, ServerInfo, StepAttemptInfo, WorkerSummary } from "../types.ts";
import { rpc, type Services } from "./_services.ts";

/** Options of {@linkcode Kagzi.listWorkers}. */
export interface ListWorkersOptions {
  /** The namespace to list. @default the client's namespace */
  namespace?: string;
  /** Only workers with this status. @default any status */
  status?: "ONLINE" | "DRAINING" | "OFFLINE";
  /** Only workers serving this workflow type. */
  type?: string;
  /** Workers per page (1-1000). @default 50 */
  pageSize?: number;
  /** Continue after a previous page. @default "" (the first page) */
  pageToken?: string;
}

/** Options of {@linkcode Kagzi.getStep}. */
export interface GetStepOptions {
  /** The namespace the run is in. @default the client's namespace */
  namespace?: string;
  /** A function step or a durable sleep. @default "function" */
  kind?: "function" | "sleep";
  /** Which use of the name (from 1). @default 1 */
  occurrence?: number;
}

/** The server's health, including its database. */
export function health(s: Services): Promise<Health> {
  return rpc(async () => {
    const res = await s.admin.healthCheck({});
    return { healthy: res.healthy, databaseOk: res.databaseOk, message: res.message };
  });
}

/** The server's version, API version, features and default versions. */
export function serverInfo(s: Services, namespace: string): Promise<ServerInfo> {
  return rpc(async () => {
    const res = await s.admin.getServerInfo({ namespace });
    return {
      version: res.version,
      apiVersion: res.apiVersion,
      features: res.features,
      database: res.database,
      defaultVersions: Object.fromEntries(
        res.defaultVersions.map((d) => [d.workflowType, d.version]),
      ),
    };
  });
}

/** One page of the workers of a namespace. */
export function listWorkers(
  s: Services,
  namespace: string,
  options: ListWorkersOptions,
): Promise<{ workers: WorkerSummary[]; nextPageToken: string }> {
  const statuses = { ONLINE: 1, DRAINING: 2, OFFLINE: 3 } as const;
  return rpc(async () => {
    const res = await s.admin.listWorkers({
      namespace,
      status: options.status === undefined ? undefined : statuses[options.status],
      workflowType: options.type ?? "",
      page: { pageSize: options.pageSize ?? 0, pageToken: options.pageToken ?? "" },
    });
    return {
      workers: res.workers.map(workerFromWire),
      nextPageToken: res.page?.nextPageToken ?? "",
    };
  });
}

/** One worker by id. */
export function getWorker(
  s: Services,
  namespace: string,
  workerId: string,
): Promise<WorkerSummary> {
  return rpc(async () =>
    workerFromWire((await s.admin.getWorker({ namespace, workerId })).worker!)
  );
}

/** Asks a worker to drain. */
export function drainWorker(
  s: Services,
  namespace: string,
  workerId: string,
): Promise<WorkerSummary> {
  return rpc(async () =>
    workerFromWire((await s.admin.drainWorker({ namespace, workerId })).worker!)
  );
}

/** Every attempt of every step of a run, in the order they started (all pages). */
export function listSteps(
  s: Services,
  namespace: string,
  runId: string,
): Promise<StepAttemptInfo[]> {
  return rpc(async () => {
    const out: StepAttemptInfo[] = [];
    let pageToken = "";
    do {
      const res = await s.admin.listSteps({ namespace, runId, page: { pageToken } });
      out.push(...res.attempts.map(stepAttemptFromWire));
      pageToken = res.page?.nextPageToken ?? "";
    } while (pageToken);
    return out;
  });
}

/** Every attempt of one step of a run. */
export function getStep(
  s: Services,
  namespace: string,
  runId: string,
  name: string,
  options: GetStepOptions,
): Promise<StepAttemptInfo[]> {
  return rpc(async () => {
    const res = await s.admin.getStep({
      namespace,
      runId,
      step: { kind: options.kind === "sleep" ? 2 : 1, name, occurrence: options.occurrence ?? 1 },
    });
    return res.attempts.map(stepAttemptFromWire);
  });
}

/** Makes `version` the one new runs of `type` get when they name none. */
export function setDefaultVersion(
  s: Services,
  namespace: string,
  type: string,
  version: string,
): Promise<void> {
  return rpc(async () => {
    await s.admin.setDefaultVersion({ namespace, workflowType: type, version });
  });
}

/** Options of {@linkcode Kagzi.runStats}. */
export interface RunStatsOptions {
  /** The namespace to count. @default the client's namespace */
  namespace?: string;
  /** How far back from now, in minutes (1-1440). @default 60 */
  minutes?: number;
}

/** Runs of one workflow type that began and ended in one minute. */
export interface RunStatsBucket {
  /** The workflow type. */
  type: string;
  /** The start of the minute. */
  minute: Date;
  /** Runs created in the minute (started, retried, rerun, children, scheduled). */
  begun: number;
  /** Runs that completed in the minute. */
  completed: number;
  /** Runs that failed in the minute. */
  failed: number;
  /** Runs cancelled in the minute. */
  cancelled: number;
}

/** Per-minute run counts over a window (minutes with no run left out), oldest first. */
export interface RunStats {
  /** The first minute counted. */
  since: Date;
  /** The server's now. */
  until: Date;
  /** The counts, by minute then type. */
  buckets: RunStatsBucket[];
}

/** Runs begun, completed, failed and cancelled per minute and type, counted by the server. */
export function runStats(s: Services, namespace: string, minutes: number): Promise<RunStats> {
  return rpc(async () => {
    const res = await s.admin.getRunStats({ namespace, minutes });
    const date = (t: { seconds: bigint; nanos: number } | undefined) =>
      new Date(t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : 0);
    return {
      since: date(res.since),
      until: date(res.until),
      buckets: res.buckets.map((b) => ({
        type: b.workflowType,
        minute: date(b.minute),
        begun: b.begun,
        completed: b.completed,
        failed: b.failed,
        cancelled: b.cancelled,
      })),
    };
  });
}
