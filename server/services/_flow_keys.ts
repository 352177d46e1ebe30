/**
 * The keys of a run's flow control, evaluated by the server from its input at start: the
 * concurrency slots it needs ("<path>=<value>", "*" for a limit over the whole type), its rate
 * limit key and its debounce key. A missing path, a value that is not a string, number or
 * boolean, a value longer than 256 characters, or one holding a NUL character or a lone UTF-16
 * surrogate (text the database cannot store as it is) is INVALID_ARGUMENT naming the path. Every
 * start path evaluates them here, before any SQL: StartWorkflow (and its batch and
 * signal-with-start), StartChild, emits, hooks, schedule fires and triggers.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Queryable } from "../store/db.ts";
import * as flows from "../store/flow_controls.ts";
import type { StartFlow } from "../store/run_starts.ts";
import { type FlowConfig, maxKeyLength } from "./_flow.ts";

/** What a start stores for its run's flow control. */
export interface RunFlow {
  /** Slots it needs, in the order they are locked (sorted); null: none. */
  slots: string[] | null;
  /** The limit of each slot. */
  caps: number[];
  rateKey: string | null;
  debounceKey: string | null;
  priority: number;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const segment = /\.([^.[\]\s]+)|\[(\d+)\]/y;

/** The value at `path` ("input.a.b[0]") in `input`; undefined when missing. */
export function valueAt(input: unknown, path: string): unknown {
  let value = input;
  segment.lastIndex = "input".length;
  for (let m = segment.exec(path); m; m = segment.exec(path)) {
    if (value === null || typeof value !== "object") return undefined;
    if (m[1] !== undefined) {
      if (Array.isArray(value) || !Object.hasOwn(value, m[1])) return undefined;
      value = (value as Record<string, unknown>)[m[1]];
    } else {
      if (!Array.isArray(value)) return undefined;
      value = value[Number(m[2])];
    }
  }
  return value;
}

function keyValue(op: string, field: string, what: string, input: unknown, path: string): string {
  const value = valueAt(input, path);
  const fail = (why: string) =>
    new InvalidArgumentError(field, `Cannot ${op}: the ${what} key "${path}" ${why}`);
  if (value === undefined) throw fail("is missing from the input");
  if (value === null) throw fail("is null in the input; it must be a string, number or boolean");
  if (typeof value === "object") {
    throw fail(
      `is ${Array.isArray(value) ? "an array" : "an object"} in the input; it must be a string, ` +
        "number or boolean",
    );
  }
  const text = String(value);
  if (text.length > maxKeyLength) {
    throw fail(`is ${text.length} characters long; at most ${maxKeyLength} are allowed`);
  }
  if (text.includes("\u0000")) {
    throw fail("has a NUL character (\\u0000) in its value; a key's value cannot hold one");
  }
  if (!text.isWellFormed()) {
    throw fail("has a lone UTF-16 surrogate in its value; a key's value must be well-formed text");
  }
  return text;
}

/** Decodes a JSON input payload for key evaluation. */
export function inputValue(
  op: string,
  input: { data: Uint8Array; metadata: Record<string, string> },
  field = "input",
): unknown {
  if (input.data.byteLength === 0) return undefined;
  const encoding = input.metadata.encoding ?? "json";
  const bad = (why: string) =>
    new InvalidArgumentError(field, `Cannot ${op}: flow-control keys need a JSON input; ${why}`);
  if (encoding !== "json") throw bad(`its encoding is "${encoding}"`);
  try {
    return JSON.parse(decoder.decode(input.data));
  } catch (err) {
    throw bad(`it does not parse (${(err as Error).message})`);
  }
}

/** The slot key of a concurrency limit with key `path` and the run's value `value`. */
export function slotKey(path: string, value: string): string {
  return path === "" ? "*" : `${path}=${value}`;
}

/** The path and value of a slot key. */
export function slotKeyParts(key: string): { path: string; key: string } {
  if (key === "*") return { path: "", key: "" };
  const at = key.indexOf("=");
  return { path: key.slice(0, at), key: key.slice(at + 1) };
}

/**
 * Evaluates a run's flow control from its input; `priority` is the start's own, if any. A key
 * the input cannot give is INVALID_ARGUMENT on `field` (the request's name for the input).
 */
export function runFlow(
  op: string,
  config: FlowConfig | undefined,
  input: { data: Uint8Array; metadata: Record<string, string> },
  priority: number | undefined,
  field = "input",
): RunFlow {
  const flow: RunFlow = {
    slots: null,
    caps: [],
    rateKey: null,
    debounceKey: null,
    priority: priority ?? config?.priority ?? 0,
  };
  if (!config) return flow;
  const paths = [
    ...config.concurrency.map((c) => c.key),
    config.rateLimit?.key ?? "",
    config.debounce?.key ?? "",
  ];
  const value = paths.some((p) => p !== "") ? inputValue(op, input, field) : undefined;
  const key = (what: string, path: string) =>
    path === "" ? "" : keyValue(op, field, what, value, path);
  if (config.concurrency.length) {
    const slots = config.concurrency
      .map((c) => ({ slot: slotKey(c.key, key("concurrency", c.key)), cap: c.limit }))
      .sort((a, b) => a.slot < b.slot ? -1 : a.slot > b.slot ? 1 : 0);
    flow.slots = slots.map((s) => s.slot);
    flow.caps = slots.map((s) => s.cap);
  }
  if (config.rateLimit) flow.rateKey = key("rate limit", config.rateLimit.key);
  if (config.debounce) flow.debounceKey = key("debounce", config.debounce.key);
  return flow;
}

/**
 * The flow control of a run started without a client's StartWorkflow (an event, a hook, a
 * schedule's fire or trigger; also checked when a schedule is created): the type's registered
 * flow control read from the store, without debounce. A key the input cannot give is
 * INVALID_ARGUMENT as at any start (`op` names what was refused: the type, the schedule), so no
 * run is ever stored outside its type's limits.
 */
export async function storedFlow(
  db: Queryable,
  op: string,
  namespaceId: string,
  workflowType: string,
  version: string,
  input: { data: Uint8Array; metadata: Record<string, string> },
  field = "input",
): Promise<StartFlow | undefined> {
  const rows = await flows.flowControlsOf(db, namespaceId, workflowType);
  const config = (rows.find((r) => r.version === version) ?? rows[0])?.config as
    | FlowConfig
    | undefined;
  if (!config) return undefined;
  const f = runFlow(op, config, input, undefined, field);
  return { priority: f.priority, slots: f.slots, caps: f.caps, rateKey: f.rateKey };
}
