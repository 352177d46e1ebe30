/** The Run detail screen: status, payloads, timeline, waits, relations, and actions. */
import { useState } from "preact/hooks";
import type { Kagzi, SignalInfo, StepAttemptInfo, Workflow } from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { elapsed, formatTime, relative, shortId } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate } from "./router.ts";
import { attemptEnd, describeWait, kindLabel, timeline, type TimelineStep } from "./timeline.ts";
import { CancelDialog, SignalDialog } from "./run_dialogs.tsx";
import { Confirm, Fact, Facts, Json, Link, Notice, Status } from "./ui.tsx";

const open = new Set(["PENDING", "RUNNING", "SLEEPING"]);

interface Detail {
  run: Workflow;
  steps: StepAttemptInfo[];
  signals: SignalInfo[];
  related: Workflow[];
  children: Workflow[];
}

async function load(c: Kagzi, ns: string, id: string): Promise<Detail> {
  const run = await c.get(id).namespace(ns);
  const [steps, signals, related, children] = await Promise.all([
    c.listSteps(id, { namespace: ns }),
    c.listSignals(id, { namespace: ns }).catch(() => []),
    c.list().namespace(ns).workflowId(run.workflowId).pageSize(20),
    c.list().namespace(ns).parent(id).pageSize(100),
  ]);
  return { run, steps, signals, related: related.workflows, children: children.workflows };
}

/** The Run detail screen of run `id`. */
export function RunDetail(props: { id: string }) {
  const ns = namespace();
  const [live, setLive] = useState(true);
  const d = useLoad(`${ns}/${props.id}`, () => withClient((c) => load(c, ns, props.id)), {
    live: live,
    everyMs: 2_000,
  });
  const [dialog, setDialog] = useState<"" | "cancel" | "signal" | "retry">("");
  const [done, setDone] = useState("");
  const link = (id: string) => href(`/runs/${id}`, { ns: ns === "default" ? "" : ns });
  const run = d.data?.run;
  if (!run) {
    return (
      <section>
        <h1>Run {props.id}</h1>
        <Notice kind="error">{d.error}</Notice>
        {d.loading && <p>Loading…</p>}
      </section>
    );
  }
  const isOpen = open.has(run.status);
  if (!isOpen && live) setTimeout(() => setLive(false));
  const after = (text: string) => {
    setDone(text);
    d.reload();
  };
  return (
    <section aria-labelledby="run-title">
      <p class="crumbs">
        <Link href={href("/", { ns: ns === "default" ? "" : ns })}>Runs</Link> /
      </p>
      <h1 id="run-title">
        {run.type} <span class="mono subtle">{run.id}</span> <Status value={run.status} />
      </h1>
      <div class="toolbar">
        {isOpen && (
          <button type="button" class="danger" onClick={() => setDialog("cancel")}>
            Cancel run
          </button>
        )}
        {isOpen && <button type="button" onClick={() => setDialog("signal")}>Send signal</button>}
        {!isOpen && (
          <button type="button" class="primary" onClick={() => setDialog("retry")}>Retry</button>
        )}
        <button type="button" onClick={d.reload}>Refresh</button>
      </div>
      <Notice kind="ok">{done}</Notice>
      <Notice kind="error">{d.error}</Notice>
      {run.waits.length > 0 && (
        <section class="waits" aria-label="Waiting for">
          <h2>Waiting for</h2>
          <ul>
            {run.waits.map((w, i) => (
              <li key={i}>
                {describeWait(w)}
                {w.childRunId && (
                  <>
                    — <Link href={link(w.childRunId)}>open child</Link>
                  </>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      <Facts>
        <Fact label="Workflow id">
          <span class="mono">{run.workflowId}</span>
        </Fact>
        <Fact label="Namespace">{run.namespace}</Fact>
        <Fact label="Version">{run.version || "(default)"}</Fact>
        <Fact label="Attempts">{String(run.attempts)}</Fact>
        <Fact label="Created">{formatTime(run.createdAt)}</Fact>
        <Fact label="Started">{formatTime(run.startedAt)}</Fact>
        <Fact label="Finished">{formatTime(run.finishedAt)}</Fact>
        <Fact label="Duration">{elapsed(run.startedAt, run.finishedAt)}</Fact>
        {run.deadlineAt && (
          <Fact label="Deadline">
            {formatTime(run.deadlineAt)} ({relative(run.deadlineAt)})
          </Fact>
        )}
        {run.workerId && (
          <Fact label="Worker">
            <span class="mono">{run.workerId}</span>
          </Fact>
        )}
        {run.scheduleId && (
          <Fact label="Schedule">
            <Link href={href("/", { ns: ns === "default" ? "" : ns, schedule: run.scheduleId })}>
              {run.scheduleId}
            </Link>
          </Fact>
        )}
        {run.parentRunId && (
          <Fact label="Parent">
            <Link href={link(run.parentRunId)} class="mono">{run.parentRunId}</Link>
          </Fact>
        )}
        {run.retriedFromRunId && (
          <Fact label="Retry of">
            <Link href={link(run.retriedFromRunId)} class="mono">{run.retriedFromRunId}</Link>
          </Fact>
        )}
      </Facts>
      <div class="payloads">
        <Json label="Input" value={run.input} />
        {run.status === "COMPLETED" && <Json label="Output" value={run.output} />}
        {run.error && (
          <Json
            label="Error"
            value={{ code: run.error.code, message: run.error.message, ...run.error.metadata }}
          />
        )}
      </div>
      <Timeline steps={timeline(d.data!.steps)} link={link} />
      {d.data!.children.length > 0 && (
        <RunList title="Children" runs={d.data!.children} link={link} />
      )}
      {d.data!.related.length > 1 && (
        <RunList
          title="Runs with this workflow id"
          runs={d.data!.related}
          link={link}
          current={run.id}
        />
      )}
      {d.data!.signals.length > 0 && <Signals signals={d.data!.signals} />}
      {dialog === "cancel" && (
        <CancelDialog
          run={run}
          onDone={after}
          onClose={() => setDialog("")}
        />
      )}
      {dialog === "signal" && (
        <SignalDialog
          run={run}
          onDone={after}
          onClose={() => setDialog("")}
        />
      )}
      {dialog === "retry" && (
        <Confirm
          title="Retry run"
          action="Start retry"
          onClose={() => setDialog("")}
          onConfirm={async () => {
            const next = await withClient((c) =>
              c.retry(run.id, { namespace: run.namespace })
            );
            setLive(true);
            navigate(link(next.id));
          }}
        >
          <p>
            Start a new run of <b>{run.type}</b> {run.version && <>version {run.version}</>}
            with the same input, under workflow id{" "}
            <span class="mono">{run.workflowId}</span>? It will link back to this run.
          </p>
        </Confirm>
      )}
    </section>
  );
}

function Timeline(props: { steps: TimelineStep[]; link: (id: string) => string }) {
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
                        <Status value={a.status} />
                      </td>
                      <td>{formatTime(a.startedAt)}</td>
                      <td class="num">{elapsed(a.startedAt, attemptEnd(a))}</td>
                      <td class="wrap">
                        {a.error && <span class="error-text">{a.error.message}</span>}
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

function RunList(
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

function Signals(props: { signals: SignalInfo[] }) {
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
