/**
 * The flow control of workflow types, as starts need it: read from kagzi_flow_controls and kept
 * for a short while (a Register on this server forgets its type at once; other replicas see a
 * new registration within `ttlMs`).
 */
import type { Queryable } from "../store/db.ts";
import * as flows from "../store/flow_controls.ts";
import type { FlowConfig } from "./_flow.ts";

interface Entry {
  at: number;
  rows: { version: string; config: FlowConfig }[];
}

/** Flow control per (namespace, type), cached. */
export class FlowCache {
  readonly #entries = new Map<string, Entry>();

  /** @param ttlMs how long a read is kept. */
  constructor(private readonly ttlMs = 2_000) {}

  /**
   * The flow control of (type, version): the one registered for that version, else the newest
   * registered for the type; undefined when the type has none.
   */
  async get(
    db: Queryable,
    namespaceId: string,
    workflowType: string,
    version: string,
  ): Promise<FlowConfig | undefined> {
    const key = `${namespaceId}\u0000${workflowType}`;
    let entry = this.#entries.get(key);
    if (!entry || performance.now() - entry.at > this.ttlMs) {
      const rows = await flows.flowControlsOf(db, namespaceId, workflowType);
      entry = {
        at: performance.now(),
        rows: rows.map((r) => ({ version: r.version, config: r.config as FlowConfig })),
      };
      if (this.#entries.size > 10_000) this.#entries.clear();
      this.#entries.set(key, entry);
    }
    return (entry.rows.find((r) => r.version === version) ?? entry.rows[0])?.config;
  }

  /** Forgets a type (registered again here). */
  forget(namespaceId: string, workflowType: string): void {
    this.#entries.delete(`${namespaceId}\u0000${workflowType}`);
  }
}
