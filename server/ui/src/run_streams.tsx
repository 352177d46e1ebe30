/**
 * The Run detail screen's streams (`ctx.stream`): each stream followed live over Connect
 * server streaming (the SDK's `handle.stream`), showing its newest values as they arrive.
 */
import { useEffect, useState } from "preact/hooks";
import type { StreamInfo } from "@kagzi/sdk/client";
import { withClient } from "./api.ts";
import { describeError, formatTime } from "./format.ts";
import { Notice } from "./ui.tsx";

/** Values shown per stream: the newest ones. */
const shown = 20;

/** The run's streams, each live. */
export function Streams(props: { ns: string; runId: string; streams: StreamInfo[] }) {
  return (
    <section aria-labelledby="streams-title">
      <h2 id="streams-title">Streams</h2>
      {props.streams.map((s) => (
        <LiveStream key={s.name} ns={props.ns} runId={props.runId} info={s} />
      ))}
    </section>
  );
}

interface Live {
  values: { offset: number; value: unknown }[];
  ended: boolean;
  error: string;
}

/** One stream: followed from its newest values until it closes or the view goes away. */
function LiveStream(props: { ns: string; runId: string; info: StreamInfo }) {
  const { ns, runId, info } = props;
  const [live, setLive] = useState<Live>({ values: [], ended: false, error: "" });
  useEffect(() => {
    const stop = new AbortController();
    setLive({ values: [], ended: false, error: "" });
    withClient(async (c) => {
      const from = Math.max(0, info.count - shown);
      const stream = c.handle(runId, { namespace: ns }).stream(info.name, {
        from,
        signal: stop.signal,
      });
      for await (const e of stream) {
        setLive((l) => ({ ...l, values: [...l.values, e].slice(-shown) }));
      }
      if (!stop.signal.aborted) setLive((l) => ({ ...l, ended: true }));
    }).catch((err) => {
      if (!stop.signal.aborted) setLive((l) => ({ ...l, error: describeError(err) }));
    });
    return () => stop.abort();
  }, [ns, runId, info.name]);
  const last = live.values.at(-1);
  const count = Math.max(info.count, last ? last.offset + 1 : 0);
  return (
    <section class="stream" aria-label={`Stream ${info.name}`}>
      <h3>
        {info.name}{" "}
        <span class="subtle">
          {count} value{count === 1 ? "" : "s"} · {live.ended ? "closed" : "live"}
          {info.lastWrittenAt && ` · last written ${formatTime(info.lastWrittenAt)}`}
        </span>
      </h3>
      <Notice kind="error">{live.error}</Notice>
      <ol class="stream-values" start={live.values[0]?.offset ?? 0} aria-live="polite">
        {live.values.map((e) => (
          <li key={e.offset} value={e.offset} class="mono wrap">
            <span class="subtle">{e.offset}</span> {JSON.stringify(e.value)}
          </li>
        ))}
      </ol>
    </section>
  );
}
