/** Flow control as stored by the server (`Kagzi.flowControl`): limits per version, keys in use. */
import type { FlowControl } from "@kagzi/proto";
import { formatDuration } from "../_duration_grammar.ts";
import { rpc, type Services } from "./_services.ts";

/** The flow control one (type, version) was registered with; durations as text ("1m"). */
export interface FlowControlRegistration {
  /** The version ("" for unversioned runs). */
  version: string;
  /** Concurrency limits (`key` omitted: over the whole type). */
  concurrency: { key?: string; limit: number }[];
  /** The run rate limit. */
  rateLimit?: { key?: string; limit: number; period: string };
  /** Debounce of starts. */
  debounce?: { key?: string; period: string; maxWait?: string };
  /** Default priority of its runs. */
  priority?: number;
  /** The worker whose registration stored it. */
  workerId: string;
  /** When it was stored. */
  updatedAt: Date;
}

/** A key of a concurrency limit with open or waiting runs. */
export interface ConcurrencyKeyUse {
  /** The key's path (`"input.customerId"`); "" for the limit over the whole type. */
  path: string;
  /** The key's value (`"cust-42"`); "" for the limit over the whole type. */
  key: string;
  /** Open runs holding a slot. */
  used: number;
  /** The limit. */
  limit: number;
  /** PENDING runs waiting for a slot. */
  waiting: number;
}

/** What {@linkcode Kagzi.flowControl} returns. */
export interface FlowControlInfo {
  /** The workflow type. */
  type: string;
  /** Per version, newest first; empty when the type has no flow control. */
  registrations: FlowControlRegistration[];
  /** Concurrency keys in use, busiest first. */
  keys: ConcurrencyKeyUse[];
}

const ms = (d: { seconds: bigint; nanos: number } | undefined) =>
  d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : 0;
const text = (d: { seconds: bigint; nanos: number } | undefined) => formatDuration(ms(d));
const keyOf = (key: string) => key === "" ? {} : { key };

function fromWire(fc: FlowControl | undefined) {
  return {
    concurrency: (fc?.concurrency ?? []).map((c) => ({ ...keyOf(c.key), limit: c.limit })),
    ...(fc?.rateLimit && {
      rateLimit: {
        ...keyOf(fc.rateLimit.key),
        limit: fc.rateLimit.limit,
        period: text(fc.rateLimit.period),
      },
    }),
    ...(fc?.debounce && {
      debounce: {
        ...keyOf(fc.debounce.key),
        period: text(fc.debounce.period),
        ...(fc.debounce.maxWait && { maxWait: text(fc.debounce.maxWait) }),
      },
    }),
    ...(fc?.priority !== undefined && { priority: fc.priority }),
  };
}

/** The flow control stored for `type` and its concurrency keys in use. */
export function flowControl(
  s: Services,
  namespace: string,
  type: string,
): Promise<FlowControlInfo> {
  return rpc(async () => {
    const res = await s.admin.getFlowControl({ namespace, workflowType: type });
    return {
      type: res.workflowType,
      registrations: res.registrations.map((r) => ({
        version: r.version,
        ...fromWire(r.flowControl),
        workerId: r.workerId,
        updatedAt: new Date(ms(r.updatedAt as never)),
      })),
      keys: res.keys.map((k) => ({
        path: k.path,
        key: k.key,
        used: k.used,
        limit: k.limit,
        waiting: k.waiting,
      })),
    };
  });
}
