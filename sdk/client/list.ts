/** The ListWorkflows builder: one page when awaited, every run when iterated. */
import { Call } from "../_call.ts";
import { statusToWire, workflowFromWire } from "../_convert.ts";
import { KagziError } from "../errors.ts";
import type { Workflow, WorkflowPage, WorkflowStatus } from "../types.ts";
import type { Services } from "./_services.ts";

/** Builder of a ListWorkflows request: one page when awaited, every run when iterated. */
export class ListCall extends Call<WorkflowPage> implements AsyncIterable<Workflow> {
  #status?: WorkflowStatus;
  #type = "";
  #workflowId = "";
  #scheduleId = "";
  #parentRunId = "";
  #version = "";
  #pageSize = 0;
  #pageToken = "";
  #total = false;
  #tags: Record<string, string> = {};
  /** @internal */
  constructor(private readonly services: Services, namespace: string) {
    super(namespace);
  }
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
  /** Only runs with this workflow id. */
  workflowId(id: string): this {
    this.#workflowId = id;
    return this;
  }
  /** Only runs tagged `key` = `value` (each call adds a tag every run listed must carry). */
  tag(key: string, value: string): this {
    this.#tags = { ...this.#tags, [key]: value };
    return this;
  }
  /** Only the child runs of run `runId`. */
  parent(runId: string): this {
    this.#parentRunId = runId;
    return this;
  }
  /** Only runs a schedule started. */
  scheduleId(id: string): this {
    this.#scheduleId = id;
    return this;
  }
  /** Only runs pinned to this version. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** Runs per page (1-1000). @default 50 */
  pageSize(n: number): this {
    this.#pageSize = n;
    return this;
  }
  /** Continue after a previous page. */
  pageToken(token: string): this {
    this.#pageToken = token;
    return this;
  }
  /** Also count all matching runs. */
  withTotal(): this {
    this.#total = true;
    return this;
  }

  async #page(token: string): Promise<WorkflowPage> {
    const res = await this.services.workflows.listWorkflows({
      namespace: this.ns,
      status: this.#status === undefined ? undefined : statusToWire(this.#status),
      workflowType: this.#type,
      workflowId: this.#workflowId,
      scheduleId: this.#scheduleId,
      parentRunId: this.#parentRunId,
      version: this.#version,
      tags: this.#tags,
      page: { pageSize: this.#pageSize, pageToken: token, includeTotalCount: this.#total },
    });
    return {
      workflows: res.workflows.map(workflowFromWire),
      nextPageToken: res.page?.nextPageToken ?? "",
      totalCount: res.page?.totalCount === undefined ? undefined : Number(res.page.totalCount),
    };
  }

  /** Sends the request for the current page. */
  protected execute(): Promise<WorkflowPage> {
    return this.#page(this.#pageToken);
  }

  /** Every matching run, page by page. */
  async *[Symbol.asyncIterator](): AsyncIterator<Workflow> {
    let token = this.#pageToken;
    do {
      let page;
      try {
        page = await this.#page(token);
      } catch (err) {
        throw KagziError.from(err);
      }
      yield* page.workflows;
      token = page.nextPageToken;
    } while (token);
  }
}
