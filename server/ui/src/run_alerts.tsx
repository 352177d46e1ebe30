/**
 * What the Run detail screen says before anything else when a run cannot move on by itself:
 * it is PARKED (its code changed under it: which step the history has, which the code asked
 * for), a flow-control limit holds it back (which key, which limit), or no online worker serves
 * its type and version (since when).
 */
import type { StepRefInfo, Workflow } from "@kagzi/sdk/client";
import { formatTime, relative } from "./format.ts";
import { kindLabel } from "./timeline.ts";

function ref(r: StepRefInfo) {
  return (
    <>
      {kindLabel(r.kind)} <b class="mono">{r.name}</b>
      {r.occurrence > 1 ? ` #${r.occurrence}` : ""}
    </>
  );
}

/** The parked and unserved alerts of a run; nothing when neither applies. */
export function RunAlerts(props: { run: Workflow }) {
  const { parked, unserved, type, version, waitingFor } = props.run;
  return (
    <>
      {waitingFor && (
        <p class="notice notice-warn" role="status" aria-label="Held back by a limit">
          Held back by a {waitingFor.kind} limit:{" "}
          <b class="mono">
            {waitingFor.path ? `${waitingFor.path} = ${waitingFor.key}` : `all runs of ${type}`}
          </b>{" "}
          has {waitingFor.limit}{" "}
          open run{waitingFor.limit === 1 ? "" : "s"}, its limit. The run starts when one of them
          ends.
        </p>
      )}
      {parked && (
        <section class="notice notice-error" role="alert" aria-label="Parked">
          <p>
            <b>Parked {relative(parked.at)}:</b> the run's history has {ref(parked.expected)}{" "}
            where its code now asks for{" "}
            {ref(parked.asked)}, so the code changed under it. Nothing runs until you act.
          </p>
          <p>
            Deploy code that matches its history and <b>Resume</b>; or <b>Resume from here</b>{" "}
            to accept the new code (the recorded steps it no longer asks for are set aside, the
            steps it asks for run, e.g. a renamed charge charges again); or cancel it. To change
            code safely, register a new version (<span class="mono">
              .workflow(type, fn, {"{ version }"})
            </span>) and keep the old one until its runs end.
          </p>
        </section>
      )}
      {unserved && (
        <p class="notice notice-warn" role="status">
          No online worker serves <b>{type}</b>
          {version ? ` version ${version}` : ""} {unserved.lastServedAt
            ? `since ${formatTime(unserved.lastServedAt)} (${relative(unserved.lastServedAt)})`
            : "(none has registered it)"}; the run waits until a worker for it starts.
        </p>
      )}
    </>
  );
}
