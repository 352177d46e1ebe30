/** The Run detail screen's timeline: each step, sleep, signal wait and child with its attempts. */
import { elapsed, formatTime, relative, shortId } from "./format.ts";
import { attemptEnd, kindLabel, shownStatus, type TimelineStep } from "./timeline.ts";
import { Link, Status } from "./ui.tsx";

/**
 * The steps of a run (from `timeline()`), each with a table of its attempts; with `onRerun` (an
 * ended run), a "Rerun from here" button on each step, sleep, wait and child.
 */
export function Timeline(
  props: {
    steps: TimelineStep[];
    link: (id: string) => string;
    onRerun?: (stepName: string) => void;
  },
) {
  return (
    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      {props.steps.length === 0 ? <p class="subtle">No steps yet.</p> : (
        <ol class="timeline">
          {props.steps.map((s) => (
            <li key={s.key} class={`step step-${s.status.toLowerCase()}`}>
              <div class="step-head">
                <span class="kind">{kindLabel(s.kind)}</span> <b>{s.label}</b>{" "}
                <Status value={s.status} />{" "}
                <span class="subtle">{elapsed(s.startedAt, s.finishedAt)}</span>
                {s.childRunId && (
                  <>
                    — <Link href={props.link(s.childRunId)}>child run {shortId(s.childRunId)}</Link>
                  </>
                )}
                {props.onRerun && s.status !== "SUPERSEDED" &&
                  !s.attempts[0].name.startsWith("kagzi:") &&
                  (
                    <button
                      type="button"
                      class="link rerun"
                      aria-label={`Rerun from ${s.label}`}
                      onClick={() => props.onRerun!(s.attempts[0].name)}
                    >
                      Rerun from here
                    </button>
                  )}
              </div>
              <table class="attempts">
                <caption class="visually-hidden">Attempts of {s.label}</caption>
                <thead>
                  <tr>
                    <th scope="col">Attempt</th>
                    <th scope="col">Status</th>
                    <th scope="col">Started</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  {s.attempts.map((a, i) => (
                    <tr key={a.attempt}>
                      <td class="num">{a.attempt}</td>
                      <td>
                        <Status value={shownStatus(a)} />
                      </td>
                      <td>{formatTime(a.startedAt)}</td>
                      <td class="num">{elapsed(a.startedAt, attemptEnd(a))}</td>
                      <td class="wrap">
                        {a.error && (
                          <span class={shownStatus(a) === "FAILED" ? "error-text" : ""}>
                            {a.error.message}
                          </span>
                        )}
                        {a.retryAt && i === s.attempts.length - 1 && (
                          <span>— next attempt {relative(a.retryAt)}</span>
                        )}
                        {a.wakeUpAt && a.status === "SLEEPING" && (
                          <span>wakes {relative(a.wakeUpAt)}</span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
