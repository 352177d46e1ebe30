/**
 * What WorkerService remembers of registered workers between their calls: the (type, version)
 * pairs a worker serves and its default retry policy, read once from the store.
 */
import type { Db } from "../store/db.ts";
import * as workers from "../store/workers.ts";
import { workerNotRegistered } from "./_not_found.ts";
import * as v from "./_validate.ts";

/** A registered worker, as its calls need it. */
export interface WorkerInfo {
  namespaceId: string;
  /** Workflow types served, one entry per (type, version) pair. */
  types: string[];
  /** The version of each entry of `types` ("" for the default). */
  versions: string[];
  defaultRetryPolicy: unknown;
}

/** The registered workers of one server (a cache over `kagzi_workers`). */
export class WorkerCache {
  readonly #known = new Map<string, WorkerInfo>();

  /** Creates an empty cache over the database's workers. */
  constructor(private readonly db: Db) {}

  /** Caches a worker as stored. */
  remember(row: workers.WorkerRow): WorkerInfo {
    const info: WorkerInfo = {
      namespaceId: row.namespace_id,
      types: [],
      versions: [],
      defaultRetryPolicy: row.default_retry_policy,
    };
    for (const t of row.workflow_types) {
      for (const version of t.versions.length ? t.versions : [""]) {
        info.types.push(t.workflow_type);
        info.versions.push(version);
      }
    }
    this.#known.set(row.worker_id, info);
    return info;
  }

  /** The calling worker; NOT_FOUND when it is not registered in the namespace. */
  async get(op: string, namespaceId: string, workerId: string): Promise<WorkerInfo> {
    const id = v.runId(op, workerId, "worker_id");
    const cached = this.#known.get(id);
    if (cached && cached.namespaceId === namespaceId) return cached;
    const row = await workers.getWorker(this.db, namespaceId, id);
    if (!row) throw workerNotRegistered(namespaceId, id);
    return this.remember(row);
  }

  /** Forgets a worker that deregistered. */
  forget(workerId: string): void {
    this.#known.delete(workerId);
  }
}
