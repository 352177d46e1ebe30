/**
 * The flow control of a run's workflow type on the Run detail screen: its limits (per version)
 * and the concurrency keys in use, with how many runs hold and wait for each (live while the
 * run is open). Nothing when the type has no flow control.
 */
import type { FlowControlInfo, FlowControlRegistration } from "@kagzi/sdk/client";
import { withClient } from "./api.ts";
import { useLoad } from "./hooks.ts";

function limits(r: FlowControlRegistration): string[] {
  const per = (k?: string) => k ? ` per ${k}` : " in all";
  return [
    ...r.concurrency.map((c) => `at most ${c.limit} open${per(c.key)}`),
    ...(r.rateLimit
      ? [`at most ${r.rateLimit.limit} begun per ${r.rateLimit.period}${per(r.rateLimit.key)}`]
      : []),
    ...(r.debounce ? [`debounce ${r.debounce.period}${per(r.debounce.key)}`] : []),
    ...(r.priority !== undefined ? [`default priority ${r.priority}`] : []),
  ];
}

/** The flow-control panel of workflow type `type`. */
export function FlowPanel(props: { ns: string; type: string; live: boolean }) {
  const d = useLoad<FlowControlInfo>(
    `${props.ns}/${props.type}`,
    () => withClient((c) => c.flowControl(props.type, { namespace: props.ns })),
    { live: props.live },
  );
  const fc = d.data;
  if (!fc || fc.registrations.length === 0) return null;
  return (
    <section class="waits" aria-label="Flow control">
      <h2>Flow control of {fc.type}</h2>
      <ul>
        {fc.registrations.map((r) => (
          <li key={r.version}>
            {r.version ? <b>version {r.version}:</b> : null}
            {limits(r).join("; ")}
          </li>
        ))}
      </ul>
      {fc.keys.length > 0 && (
        <table aria-label="Concurrency keys in use">
          <thead>
            <tr>
              <th>Key</th>
              <th>Open</th>
              <th>Waiting</th>
            </tr>
          </thead>
          <tbody>
            {fc.keys.slice(0, 20).map((k) => (
              <tr key={`${k.path}=${k.key}`}>
                <td class="mono">{k.path ? `${k.path} = ${k.key}` : "all runs"}</td>
                <td>{k.used}/{k.limit}</td>
                <td>{k.waiting}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
