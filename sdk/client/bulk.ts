/**
 * Bulk operations over a filter: `client.bulk().status("FAILED").type("x").rerun()` starts a
 * server-side job and resolves to a {@linkcode BulkOperationHandle} whose `progress()` follows it.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BulkAction, type BulkOperation as WireOperation, BulkStatus } from "@kagzi/proto";
import { statusToWire } from "../_convert.ts";
import { timestampOf } from "../_timestamp.ts";
import type { WorkflowStatus } from "../types.ts";
import { rpc, type Services } from "./_services.ts";

/** What a bulk operation does to each run it selects. */
export type BulkActionName = "rerun" | "cancel" | "pause" | "resume";

/** A bulk operation as last read from the server. */
export interface BulkProgress {
  /** The operation's id (`client.bulkOperation(id)` attaches to it). */
  id: string;
  /** What it does to each selected run. */
  action: BulkActionName;
  /** RUNNING until every selected run was looked at (COMPLETED) or it was stopped (CANCELLED). */
  status: "RUNNING" | "COMPLETED" | "CANCELLED";
  /** Runs the filter matched when the operation started. */
  total: number;
  /** Runs looked at so far: acted on or skipped. */
  done: number;
  /** Runs rerun, cancelled, paused or resumed. */
  acted: number;
  /** Runs left as they were (e.g. a rerun of a run whose workflow id an open run holds). */
  skipped: number;
  /** When it started. */
  createdAt: Date;
  /** When it ended; absent while RUNNING. */
  finishedAt?: Date;
}

const actionNames: Record<number, BulkActionName> = {
  [BulkAction.RERUN]: "rerun",
  [BulkAction.CANCEL]: "cancel",
  [BulkAction.PAUSE]: "pause",
  [BulkAction.RESUME]: "resume",
};
const statusNames: Record<number, BulkProgress["status"]> = {
  [BulkStatus.RUNNING]: "RUNNING",
  [BulkStatus.COMPLETED]: "COMPLETED",
  [BulkStatus.CANCELLED]: "CANCELLED",
};

function progressOf(o: WireOperation | undefined): BulkProgress {
  if (!o) throw new Error("The server answered without the bulk operation");
  return {
    id: o.operationId,
    action: actionNames[o.action],
    status: statusNames[o.status],
    total: Number(o.total),
    done: Number(o.done),
    acted: Number(o.acted),
    skipped: Number(o.skipped),
    createdAt: o.createdAt ? timestampDate(o.createdAt) : new Date(0),
    finishedAt: o.finishedAt ? timestampDate(o.finishedAt) : undefined,
  };
}

/** Options of {@linkcode BulkOperationHandle.progress}. */
export interface BulkProgressOptions {
  /** Time between two reads. @default 250 */
  intervalMs?: number;
}

/** A started bulk operation. */
export class BulkOperationHandle {
  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly namespace: string,
    /** The operation's id. */
    readonly id: string,
  ) {}

  /** The operation as it is now. */
  get(): Promise<BulkProgress> {
    return rpc(async () =>
      progressOf(
        (await this.services.bulk.getBulkOperation({
          namespace: this.namespace,
          operationId: this.id,
        })).operation,
      )
    );
  }

  /** Stops the operation; the runs already acted on stay so. */
  cancel(): Promise<BulkProgress> {
    return rpc(async () =>
      progressOf(
        (await this.services.bulk.cancelBulkOperation({
          namespace: this.namespace,
          operationId: this.id,
        })).operation,
      )
    );
  }

  /** Yields the operation each time it moved, until it ends (the last one yielded is final). */
  async *progress(options: BulkProgressOptions = {}): AsyncGenerator<BulkProgress> {
    let last = -1;
    for (;;) {
      const p = await this.get();
      if (p.done !== last || p.status !== "RUNNING") yield p;
      if (p.status !== "RUNNING") return;
      last = p.done;
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
    }
  }

  /** Resolves once the operation ended, with its final progress. */
  async done(): Promise<BulkProgress> {
    let p!: BulkProgress;
    for await (p of this.progress()) { /* the last one */ }
    return p;
  }
}

/** Builder of a bulk operation: set the filter, then call the action. */
export class BulkCall {
  #status?: WorkflowStatus;
  #type = "";
  #version = "";
  #since?: Date;
  #until?: Date;
  #tags: Record<string, string> = {};
  /** @internal */
  constructor(private readonly services: Services, private ns: string) {}
  /** Only runs with this status. */
  status(s: WorkflowStatus): this {
    this.#status = s;
    return this;
  }
  /** Only runs of this workflow type. */
  type(t: string): this {
    this.#type = t;
    return this;
  }
  /** Only runs pinned to this version. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** Only runs created at or after `d`. */
  since(d: Date): this {
    this.#since = d;
    return this;
  }
  /** Only runs created before `d`. */
  until(d: Date): this {
    this.#until = d;
    return this;
  }
  /** Only runs tagged `key` = `value` (each call adds one). */
  tag(key: string, value: string): this {
    this.#tags = { ...this.#tags, [key]: value };
    return this;
  }
  /** In namespace `ns`. */
  namespace(ns: string): this {
    this.ns = ns;
    return this;
  }
  /** Reruns every selected ended run (as `client.retry`). */
  rerun(): Promise<BulkOperationHandle> {
    return this.#start(BulkAction.RERUN, "");
  }
  /** Cancels every selected open run. */
  cancel(options: { reason?: string } = {}): Promise<BulkOperationHandle> {
    return this.#start(BulkAction.CANCEL, options.reason ?? "");
  }
  /** Pauses every selected PENDING, RUNNING or SLEEPING run. */
  pause(): Promise<BulkOperationHandle> {
    return this.#start(BulkAction.PAUSE, "");
  }
  /** Resumes every selected PAUSED run. */
  resume(): Promise<BulkOperationHandle> {
    return this.#start(BulkAction.RESUME, "");
  }

  #start(action: BulkAction, reason: string): Promise<BulkOperationHandle> {
    const what = `Cannot start a bulk ${BulkAction[action].toLowerCase()}`;
    return rpc(async () => {
      const res = await this.services.bulk.startBulkOperation({
        namespace: this.ns,
        action,
        reason,
        filter: {
          status: this.#status === undefined ? undefined : statusToWire(this.#status),
          workflowType: this.#type,
          version: this.#version,
          since: this.#since && timestampOf(this.#since, "since", what),
          until: this.#until && timestampOf(this.#until, "until", what),
          tags: this.#tags,
        },
      });
      return new BulkOperationHandle(this.services, this.ns, progressOf(res.operation).id);
    });
  }
}
