/** Readers of run streams for the stream tests: the SDK's, a raw SSE client, the CLI's. */
import assert from "node:assert/strict";
import type { RunHandle } from "@kagzi/sdk";
import { cliMain } from "./_cli.ts";

/** What a reader got so far, and its end. */
export interface Collected<T = unknown> {
  got: { offset: number; value: T }[];
  /** Resolves when the reader ended (rejects with its error). */
  done: Promise<void>;
}

/** Follows `handle.stream(name)` in the background, collecting what it yields. */
export function collect<T>(handle: RunHandle, name: string, from = 0): Collected<T> {
  const got: { offset: number; value: T }[] = [];
  const done = (async () => {
    for await (const e of handle.stream<T>(name, { from })) got.push(e);
  })();
  return { got, done };
}

/** One Server-Sent Event. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an event stream response to its end, collecting events (comments are skipped). */
export function readSse(res: Response): { events: SseEvent[]; done: Promise<void> } {
  const events: SseEvent[] = [];
  const done = (async () => {
    let buf = "";
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const e: SseEvent = { data: "" };
        const data: string[] = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const [k, v] = i < 0 ? [line, ""] : [line.slice(0, i), line.slice(i + 1).trimStart()];
          if (k === "id") e.id = v;
          else if (k === "event") e.event = v;
          else if (k === "data") data.push(v);
        }
        e.data = data.join("\n");
        if (e.id !== undefined || e.event !== undefined || data.length) events.push(e);
      }
    }
  })();
  return { events, done };
}

/** The values of SSE events (`id` as offset, `data` parsed), and whether an `end` event came. */
export function sseValues<T>(
  events: SseEvent[],
): { got: { offset: number; value: T }[]; end: boolean } {
  const got = events.filter((e) => e.event === undefined).map((e) => ({
    offset: Number(e.id),
    value: JSON.parse(e.data) as T,
  }));
  return { got, end: events.at(-1)?.event === "end" };
}

/** `kagzi run stream <run> <name>` as a process, collecting its JSON lines. */
export function cliFollow(
  url: string,
  runId: string,
  name: string,
  extra: string[] = [],
): Collected & { status: Promise<Deno.CommandStatus>; stderr: () => string } {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      cliMain,
      "--address",
      url,
      "--output",
      "jsonl",
      "run",
      "stream",
      runId,
      name,
      ...extra,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const got: { offset: number; value: unknown }[] = [];
  let err = "";
  const errDone = (async () => {
    for await (const t of child.stderr.pipeThrough(new TextDecoderStream())) err += t;
  })();
  const done = (async () => {
    let buf = "";
    for await (const t of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += t;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) got.push(JSON.parse(line));
      }
    }
    await errDone;
    const status = await child.status;
    assert.equal(status.code, 0, `kagzi run stream exited ${status.code}: ${err}`);
  })();
  return { got, done, status: child.status, stderr: () => err };
}

/** The offsets 0..n-1 (or from..n-1). */
export function offsets(n: number, from = 0): number[] {
  return Array.from({ length: n - from }, (_, i) => from + i);
}

/** Rejects when `p` takes longer than `ms` (a hung reader fails the test instead of hanging it). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
    }),
  ]);
}
