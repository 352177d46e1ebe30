/**
 * Whether a run's workflow type and version has an online worker: a start says so in its
 * `warning`, GetWorkflow in `unserved`, so a run of a type no worker serves does not wait
 * silently. A "served" answer is reused for a couple of seconds (starts are the hot path); a
 * "not served" one never is, so a worker that registers clears it at once.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Unserved, UnservedSchema } from "@kagzi/proto";
import type { Queryable } from "../store/db.ts";
import { servingState } from "../store/workers.ts";
import { ts } from "./_convert.ts";

/** Reads (and briefly remembers) which types and versions online workers serve. */
export class ServedTypes {
  readonly #servedUntil = new Map<string, number>();

  constructor(private readonly db: Queryable, private readonly ttlMs = 2_000) {}

  /** Undefined when an online worker serves (type, version); else since when none has. */
  async unserved(
    namespaceId: string,
    workflowType: string,
    version: string,
  ): Promise<Unserved | undefined> {
    const key = JSON.stringify([namespaceId, workflowType, version]);
    if ((this.#servedUntil.get(key) ?? 0) > Date.now()) return undefined;
    const state = await servingState(this.db, namespaceId, workflowType, version);
    if (state.online) {
      if (this.#servedUntil.size > 10_000) this.#servedUntil.clear();
      this.#servedUntil.set(key, Date.now() + this.ttlMs);
      return undefined;
    }
    return create(UnservedSchema, { lastServedAt: ts(state.last_seen) });
  }

  /** The warning of a start whose run no online worker serves; "" when one does. */
  async warning(namespaceId: string, workflowType: string, version: string): Promise<string> {
    const u = await this.unserved(namespaceId, workflowType, version);
    return u ? unservedText(namespaceId, workflowType, version, u) : "";
  }
}

/** "No online worker serves workflow "x" … since …": for warnings and logs. */
export function unservedText(
  namespaceId: string,
  workflowType: string,
  version: string,
  u: Unserved,
): string {
  const what = `workflow "${workflowType}"${version ? ` version "${version}"` : ""}`;
  const since = u.lastServedAt
    ? `since ${timestampDate(u.lastServedAt).toISOString()} (when one was last heard from)`
    : "(none has registered it)";
  return `No online worker serves ${what} in namespace "${namespaceId}" ${since}; ` +
    "the run waits until one does";
}
