/**
 * The Run detail screen's actions: cancel, send a signal, retry or rerun from a step, pause,
 * resume a paused or parked run — each behind a confirmation.
 */
import { useState } from "preact/hooks";
import type { Workflow } from "@kagzi/sdk/client";
import { withClient } from "./api.ts";
import { Confirm } from "./ui.tsx";

/** Props of a dialog acting on one run. */
interface RunDialogProps {
  run: Workflow;
  onClose: () => void;
}

/** Cancels the run, with an optional reason. */
export function CancelDialog(props: RunDialogProps & { onDone: (t: string) => void }) {
  const [reason, setReason] = useState("");
  return (
    <Confirm
      title="Cancel run"
      action="Cancel run"
      danger
      onClose={props.onClose}
      onConfirm={async () => {
        await withClient((c) =>
          c.cancel(props.run.id).namespace(props.run.namespace).reason(reason)
        );
        props.onDone("Run cancelled.");
      }}
    >
      <p>Cancel this run? Its running steps see their abort signal; this cannot be undone.</p>
      <label>
        Reason (optional)
        <input value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
    </Confirm>
  );
}

/** Sends a signal, named and with an optional JSON payload, to the run. */
export function SignalDialog(props: RunDialogProps & { onDone: (t: string) => void }) {
  const [name, setName] = useState("");
  const [payload, setPayload] = useState("");
  return (
    <Confirm
      title="Send signal"
      action="Send signal"
      onClose={props.onClose}
      onConfirm={async () => {
        if (!name.trim()) throw new Error("Give the signal a name.");
        let value: unknown;
        if (payload.trim()) {
          try {
            value = JSON.parse(payload);
          } catch (err) {
            throw new Error(`The payload is not valid JSON: ${(err as Error).message}`);
          }
        }
        const sent = await withClient((c) =>
          c.signal(props.run.id, name.trim(), value, { namespace: props.run.namespace })
        );
        props.onDone(
          `Signal "${name.trim()}" sent${sent.alreadyExists ? " (already stored)" : ""}.`,
        );
      }}
    >
      <label>
        Signal name
        <input required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Payload (JSON, optional)
        <textarea rows={5} value={payload} onInput={(e) => setPayload(e.currentTarget.value)} />
      </label>
    </Confirm>
  );
}

/**
 * Starts a retry of the ended run (same input, same workflow id); with `fromStep`, a rerun that
 * keeps the stored outputs of the steps before it. `onStarted` gets the new run's id.
 */
export function RetryDialog(
  props: RunDialogProps & { fromStep?: string; onStarted: (id: string) => void },
) {
  const { run, fromStep } = props;
  return (
    <Confirm
      title={fromStep ? `Rerun from "${fromStep}"` : "Retry run"}
      action={fromStep ? "Start rerun" : "Start retry"}
      onClose={props.onClose}
      onConfirm={async () => {
        const next = await withClient((c) =>
          fromStep
            ? c.rerun(run.id, { fromStep, namespace: run.namespace })
            : c.retry(run.id, { namespace: run.namespace })
        );
        props.onStarted(next.id);
      }}
    >
      <p>
        Start a new run of <b>{run.type}</b> {run.version && <>version {run.version}</>}
        with the same input, under workflow id{" "}
        <span class="mono">{run.workflowId}</span>? It will link back to this run.
      </p>
      {fromStep && (
        <p>
          The steps this run completed before <b>{fromStep}</b>{" "}
          keep their stored outputs (they are not called again); <b>{fromStep}</b>{" "}
          and everything after it run again.
        </p>
      )}
    </Confirm>
  );
}

/** Pauses an open run: nothing claims it until it is resumed; a running one stops at its next step. */
export function PauseDialog(props: RunDialogProps & { onDone: (t: string) => void }) {
  const run = props.run;
  return (
    <Confirm
      title="Pause run"
      action="Pause run"
      onClose={props.onClose}
      onConfirm={async () => {
        await withClient((c) => c.pause(run.id, { namespace: run.namespace }));
        props.onDone("Run paused.");
      }}
    >
      <p>
        Hold this run as PAUSED? No worker claims it until it is resumed; if it is running, its
        worker stops at the next step boundary. Signals still arrive and cancel still works.
      </p>
    </Confirm>
  );
}

/**
 * Resumes a PAUSED run, or a PARKED one: as it is (code that matches was deployed) or from where
 * it parked.
 */
export function ResumeDialog(
  props: RunDialogProps & { fromHere: boolean; onDone: (t: string) => void },
) {
  const { run, fromHere } = props;
  return (
    <Confirm
      title={fromHere ? "Resume from here" : "Resume run"}
      action={fromHere ? "Resume from here" : "Resume"}
      danger={fromHere}
      onClose={props.onClose}
      onConfirm={async () => {
        await withClient((c) => c.resume(run.id, { fromHere, namespace: run.namespace }));
        props.onDone(fromHere ? "Run resumed from here." : "Run resumed.");
      }}
    >
      {fromHere
        ? (
          <p>
            Accept the code as it is now? The recorded steps it no longer asks for are set aside
            (kept, marked superseded) and the steps it asks for from here run — a renamed step runs
            again.
          </p>
        )
        : run.status === "PAUSED"
        ? <p>Let workers claim this run again? It continues from its last completed step.</p>
        : (
          <p>
            Let the run replay again? If its code still differs from its history, it parks again and
            nothing runs.
          </p>
        )}
    </Confirm>
  );
}
