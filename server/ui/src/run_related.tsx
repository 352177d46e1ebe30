/** The Run detail screen's related lists: other runs (children, same workflow id) and signals. */
import type { SignalInfo, Workflow } from "@kagzi/sdk/client";
import { formatTime, shortId } from "./format.ts";
import { Link, Status } from "./ui.tsx";

/** Runs related to this one (children, runs of the workflow id), each linked. */
export function RunList(
  props: { title: string; runs: Workflow[]; link: (id: string) => string; current?: string },
) {
  return (
    <section aria-label={props.title}>
      <h2>{props.title}</h2>
      <ul class="runlist">
        {props.runs.map((w) => (
          <li key={w.id}>
            {w.id === props.current
              ? <span class="mono">{shortId(w.id)} (this run)</span>
              : <Link href={props.link(w.id)} class="mono">{shortId(w.id)}</Link>} {w.type}{" "}
            <Status value={w.status} /> <span class="subtle">{formatTime(w.createdAt)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The signals sent to the run, taken or pending. */
export function Signals(props: { signals: SignalInfo[] }) {
  return (
    <section aria-labelledby="signals-title">
      <h2 id="signals-title">Signals</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Sent</th>
            <th scope="col">Taken</th>
            <th scope="col">Payload</th>
          </tr>
        </thead>
        <tbody>
          {props.signals.map((s) => (
            <tr key={s.id}>
              <td>{s.name}</td>
              <td>{formatTime(s.sentAt)}</td>
              <td>
                {s.consumedAt ? formatTime(s.consumedAt) : <span class="subtle">pending</span>}
              </td>
              <td class="mono wrap">{s.payload === undefined ? "" : JSON.stringify(s.payload)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
