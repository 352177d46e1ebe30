/** The shape of a `kagzi` command, the context it runs in, and helpers to read its flags. */
import { type Duration, type Kagzi, parseDuration } from "@kagzi/sdk";
import { UsageError } from "./_errors.ts";
import type { Output } from "./_output.ts";

/** A flag of a command (parsed by `node:util` parseArgs). */
export interface Flag {
  type: "string" | "boolean";
  short?: string;
  /** Shown in help after the flag, e.g. "JSON|@file". */
  value?: string;
  help: string;
}

/** Parsed flag values. */
export type Values = Record<string, string | boolean | undefined>;

/** What a command gets to run. */
export interface Runtime {
  /** Connects (once) with the global flags. */
  client(): Promise<Kagzi>;
  /** Where results go. */
  out: Output;
  /** The namespace the command works in. */
  namespace: string;
  /** The server address. */
  address: string;
}

/** One command, e.g. `run start`. */
export interface Command {
  name: string;
  /** Positional arguments as shown in help, e.g. "<type>" or "<runId>...". */
  args: string;
  summary: string;
  /** More help text, shown by `--help`. */
  details?: string;
  flags: Record<string, Flag>;
  /** How many positional arguments it takes. */
  min: number;
  max: number;
  run(rt: Runtime, values: Values, args: string[]): Promise<number>;
}

/** A group of commands, e.g. `run`. */
export interface Group {
  name: string;
  summary: string;
  commands: Command[];
  /** A line for the group's help and its commands' help, e.g. what an argument may be. */
  note?: string;
}

/** A string flag's value, or undefined. */
export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A whole-number flag from `min` to `max`, or `fallback` when absent. */
export function int(
  values: Values,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    throw new UsageError(
      `Invalid --${name} "${raw}": use a whole number from ${min} to ${max}`,
    );
  }
  return n;
}

/** A duration flag ("30s", "5m", ms) in milliseconds, or undefined. */
export function duration(values: Values, name: string): number | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  try {
    return parseDuration(/^\d+$/.test(raw) ? Number(raw) : raw as Duration, `--${name}`);
  } catch (err) {
    // The parser's message names the flag and the value already: `Invalid --timeout "abc": …`.
    throw new UsageError((err as Error).message);
  }
}

/** One of `choices` (case-insensitive), upper-cased, or undefined when absent. */
export function choice<T extends string>(
  values: Values,
  name: string,
  choices: readonly T[],
): T | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  const up = raw.toUpperCase() as T;
  if (!choices.includes(up)) {
    throw new UsageError(
      `Invalid --${name} "${raw}": use one of ${choices.join(", ")}`,
    );
  }
  return up;
}

/**
 * A JSON value given as text, as `@path` (a file) or `@-` (stdin); undefined when
 * the flag is absent. Not JSON is a usage error naming the flag.
 */
export async function jsonFlag(values: Values, name: string): Promise<unknown> {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  let text = raw;
  if (raw.startsWith("@")) {
    const path = raw.slice(1);
    try {
      text = path === "-"
        ? await new Response(Deno.stdin.readable).text()
        : await Deno.readTextFile(path);
    } catch (err) {
      throw new UsageError(
        `Cannot read --${name} file "${path}": ${(err as Error).message}`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const where = raw.startsWith("@") ? ` in "${raw.slice(1)}"` : "";
    throw new UsageError(
      `Invalid --${name}${where}: not JSON (${(err as Error).message})`,
    );
  }
}
