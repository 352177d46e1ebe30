/** The run page's dialogs: cancel a run (with a reason) and send it a signal (JSON payload). */
import { useState } from "preact/hooks";
import type { Workflow } from "@kagzi/sdk/client";
import { withClient } from "./api.ts";
import { Confirm } from "./ui.tsx";

/** Asks for a reason and cancels the run. */
export function CancelDialog(
  props: { run: Workflow; onDone: (t: string) => void; onClose: () => void },
) {
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

/** Asks for a signal name and payload and sends it to the run. */
export function SignalDialog(
  props: { run: Workflow; onDone: (t: string) => void; onClose: () => void },
) {
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
