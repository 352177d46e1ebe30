/**
 * The Run detail screen: status, payloads, waits, relations, live streams and signals; the timeline is
 * `run_timeline.tsx`, the actions' dialogs `run_dialogs.tsx`.
 */
import { useState } from "preact/hooks";
import {
  isOpen,
  type Kagzi,
  type SignalInfo,
  type StepAttemptInfo,
  type StreamInfo,
  type TokenInfo,
  type Workflow,
} from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { elapsed, formatTime, relative } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate } from "./router.ts";
import { describeWait, timeline } from "./timeline.ts";
import { Fact, Facts, Json, Link, Notice, Status } from "./ui.tsx";
import { Timeline } from "./run_timeline.tsx";
import { Waterfall } from "./run_waterfall.tsx";
import {
  CancelDialog,
  PauseDialog,
  ResumeDialog,
  RetryDialog,
  SignalDialog,
} from "./run_dialogs.tsx";
import { RunAlerts } from "./run_alerts.tsx";
import { RunList, Signals } from "./run_related.tsx";
import { Streams } from "./run_streams.tsx";
import { Tokens } from "./run_tokens.tsx";

interface Detail {
  run: Workflow;
  steps: StepAttemptInfo[];
  signals: SignalInfo[];
  streams: StreamInfo[];
  tokens: TokenInfo[];
  related: Workflow[];
  children: Workflow[];
}

async function load(c: Kagzi, ns: string, id: string): Promise<Detail> {
  const run = await c.get(id).namespace(ns);
  const [steps, signals, streams, tokens, related, children] = await Promise.all([
    c.listSteps(id, { namespace: ns }),
    c.listSignals(id, { namespace: ns }).catch(() => []),
    c.handle(id, { namespace: ns }).streams().catch(() => []),
    c.listTokens(id, { namespace: ns }).catch(() => []),
    c.list().namespace(ns).workflowId(run.workflowId).pageSize(20),
    c.list().namespace(ns).parent(id).pageSize(100),
  ]);
  return {
    run,
    steps,
    signals,
    streams,
    tokens,
    related: related.workflows,
    children: children.workflows,
  };
}

/** The Run detail screen of run `id`. */
export function RunDetail(props: { id: string }) {
  const ns = namespace();
  const [live, setLive] = useState(true);
  const d = useLoad(`${ns}/${props.id}`, () => withClient((c) => load(c, ns, props.id)), {
    live: live,
    everyMs: 2_000,
  });
  const [dialog, setDialog] = useState<
    "" | "cancel" | "signal" | "retry" | "resume" | "here" | "pause"
  >("");
  const [fromStep, setFromStep] = useState<string | undefined>();
  const [done, setDone] = useState("");
  const nsq = ns === "default" ? "" : ns;
  const link = (id: string) => href(`/runs/${id}`, { ns: nsq });
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
  const open = isOpen(run.status);
  if (!open && live) setTimeout(() => setLive(false));
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
        {open && (
          <button type="button" class="danger" onClick={() => setDialog("cancel")}>
            Cancel run
          </button>
        )}
        {open && <button type="button" onClick={() => setDialog("signal")}>Send signal</button>}
        {(run.status === "PENDING" || run.status === "RUNNING" || run.status === "SLEEPING") && (
          <button type="button" onClick={() => setDialog("pause")}>Pause</button>
        )}
        {run.status === "PAUSED" && (
          <button
            type="button"
            class="primary"
            onClick={() => setDialog("resume")}
          >
            Resume
          </button>
        )}
        {run.status === "PARKED" && (
          <>
            <button type="button" class="primary" onClick={() => setDialog("resume")}>
              Resume
            </button>
            <button type="button" onClick={() => setDialog("here")}>Resume from here</button>
          </>
        )}
        {!open && (
          <button
            type="button"
            class="primary"
            onClick={() => {
              setFromStep(undefined);
              setDialog("retry");
            }}
          >
            Retry
          </button>
        )}
        <button type="button" onClick={d.reload}>Refresh</button>
      </div>
      <Notice kind="ok">{done}</Notice>
      <Notice kind="error">{d.error}</Notice>
      <RunAlerts run={run} />
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
        {Object.keys(run.tags).length > 0 && (
          <Fact label="Tags">
            {Object.entries(run.tags).map(([k, v]) => (
              <Link key={k} class="tag" href={href("/", { ns: nsq, tags: `${k}=${v}` })}>
                {k}={v}
              </Link>
            ))}
          </Fact>
        )}
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
      <Waterfall steps={timeline(d.data!.steps)} />
      <Timeline
        steps={timeline(d.data!.steps)}
        link={link}
        onRerun={open ? undefined : (step) => {
          setFromStep(step);
          setDialog("retry");
        }}
      />
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
      {d.data!.streams.length > 0 && <Streams ns={ns} runId={run.id} streams={d.data!.streams} />}
      {d.data!.signals.length > 0 && <Signals signals={d.data!.signals} />}
      {d.data!.tokens.length > 0 && <Tokens tokens={d.data!.tokens} />}
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
      {(dialog === "resume" || dialog === "here") && (
        <ResumeDialog
          run={run}
          fromHere={dialog === "here"}
          onDone={after}
          onClose={() => setDialog("")}
        />
      )}
      {dialog === "pause" && (
        <PauseDialog
          run={run}
          onDone={after}
          onClose={() => setDialog("")}
        />
      )}
      {dialog === "retry" && (
        <RetryDialog
          run={run}
          fromStep={fromStep}
          onClose={() => setDialog("")}
          onStarted={(id) => {
            setLive(true);
            navigate(link(id));
          }}
        />
      )}
    </section>
  );
}
