/**
 * "Act on all matching": a server-side bulk rerun, cancel, pause or resume of every run the
 * Runs screen's filters match, confirmed first, then followed with a live progress bar and a
 * Stop button.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { BulkActionName, BulkCall, BulkProgress, Kagzi } from "@kagzi/sdk/client";
import { withClient } from "./api.ts";
import { describeError } from "./format.ts";
import { type Filters, parseTags } from "./runs_filters.tsx";
import { Confirm, Notice } from "./ui.tsx";

/** The statuses each action can change (as the server checks). */
const actsOn: Record<BulkActionName, string[]> = {
  rerun: ["COMPLETED", "FAILED", "CANCELLED"],
  cancel: ["PENDING", "RUNNING", "SLEEPING", "PARKED", "PAUSED"],
  pause: ["PENDING", "RUNNING", "SLEEPING"],
  resume: ["PAUSED"],
};
const labels: Record<BulkActionName, string> = {
  rerun: "Rerun",
  cancel: "Cancel",
  pause: "Pause",
  resume: "Resume",
};
const pollMs = 500;

/** The actions that can change runs of `status` (every action when no status is chosen). */
export function actionsFor(status: string): BulkActionName[] {
  return (Object.keys(actsOn) as BulkActionName[]).filter((a) =>
    !status || actsOn[a].includes(status)
  );
}

/** Why `f` cannot drive a bulk operation, or "" when it can. */
export function refusal(f: Filters): string {
  if (f.wf || f.schedule || f.parent) {
    return "Bulk actions filter by status, type and tags only: clear the workflow id, " +
      "schedule and parent filters first.";
  }
  if (!f.status && !f.type && !f.tags) {
    return "Set a filter first (status, type or tags): a bulk action never acts on every run.";
  }
  if (actionsFor(f.status).length === 0) return `No bulk action applies to ${f.status} runs.`;
  return "";
}

function callOf(client: Kagzi, f: Filters): BulkCall {
  let call = client.bulk().namespace(f.ns);
  if (f.status) call = call.status(f.status as Parameters<BulkCall["status"]>[0]);
  if (f.type) call = call.type(f.type);
  for (const [k, v] of parseTags(f.tags)) call = call.tag(k, v);
  return call;
}

function describeFilter(f: Filters): string {
  return [
    f.status && `status ${f.status}`,
    f.type && `type ${f.type}`,
    f.tags && `tags ${f.tags}`,
  ].filter(Boolean).join(", ");
}

/** The toolbar's "Act on all matching" button, its dialog and the running operation's progress. */
export function BulkActions(props: { f: Filters; onProgress: () => void }) {
  const { f } = props;
  const [open, setOpen] = useState(false);
  const [error, setError] = useState("");
  const [op, setOp] = useState<{ id: string; ns: string } | undefined>();
  return (
    <>
      <button
        type="button"
        disabled={op !== undefined}
        onClick={() => {
          const why = refusal(f);
          setError(why);
          if (!why) setOpen(true);
        }}
      >
        Act on all matching…
      </button>
      <Notice kind="error">{error}</Notice>
      {open && (
        <BulkDialog
          f={f}
          onStarted={(id) => setOp({ id, ns: f.ns })}
          onClose={() => setOpen(false)}
        />
      )}
      {op && (
        <BulkProgressBar
          key={op.id}
          id={op.id}
          ns={op.ns}
          onChange={props.onProgress}
          onDismiss={() => setOp(undefined)}
        />
      )}
    </>
  );
}

function BulkDialog(props: { f: Filters; onStarted: (id: string) => void; onClose: () => void }) {
  const choices = actionsFor(props.f.status);
  const [action, setAction] = useState<BulkActionName>(choices[0]);
  const [reason, setReason] = useState("");
  return (
    <Confirm
      title="Act on all matching runs"
      action={`${labels[action]} all matching`}
      danger={action === "cancel"}
      onClose={props.onClose}
      onConfirm={async () => {
        const handle = await withClient((c) => {
          const call = callOf(c, props.f);
          return action === "cancel" ? call.cancel({ reason }) : call[action]();
        });
        props.onStarted(handle.id);
      }}
    >
      <p>
        Every run matching {describeFilter(props.f)}{" "}
        when it starts, worked by the server in batches; runs it cannot change are skipped.
      </p>
      <fieldset>
        <legend>Action</legend>
        {choices.map((a) => (
          <label key={a} class="inline">
            <input
              type="radio"
              name="bulk-action"
              checked={action === a}
              onChange={() => setAction(a)}
            />{" "}
            {labels[a]}
          </label>
        ))}
      </fieldset>
      {action === "cancel" && (
        <label>
          Reason (optional)
          <input value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </label>
      )}
    </Confirm>
  );
}

/** Polls the operation until it ends; shows done/total, acted, skipped and a Stop button. */
function BulkProgressBar(
  props: { id: string; ns: string; onChange: () => void; onDismiss: () => void },
) {
  const [p, setP] = useState<BulkProgress | undefined>();
  const [error, setError] = useState("");
  const [stopping, setStopping] = useState(false);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastDone = -1;
    const poll = async () => {
      try {
        const now = await withClient((c) =>
          c.bulkOperation(props.id, { namespace: props.ns }).get()
        );
        if (!alive) return;
        setP(now);
        setError("");
        if (now.done !== lastDone || now.status !== "RUNNING") onChange.current();
        lastDone = now.done;
        if (now.status !== "RUNNING") return;
      } catch (err) {
        if (alive) setError(describeError(err));
      }
      if (alive) timer = setTimeout(poll, pollMs);
    };
    poll();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [props.id, props.ns]);
  const stop = async () => {
    setStopping(true);
    try {
      setP(await withClient((c) => c.bulkOperation(props.id, { namespace: props.ns }).cancel()));
    } catch (err) {
      setError(describeError(err));
      setStopping(false);
    }
  };
  const running = !p || p.status === "RUNNING";
  const label = p ? labels[p.action] : "Bulk action";
  return (
    <section class="bulk-progress" aria-label="Bulk operation">
      <progress max={Math.max(p?.total ?? 0, 1)} value={p ? (p.total ? p.done : 1) : undefined}>
        {p ? `${p.done} of ${p.total}` : "starting"}
      </progress>
      <span role="status" data-status={p?.status ?? "STARTING"}>
        {p
          ? `${label}: ${p.done}/${p.total} done, ${p.acted} acted, ${p.skipped} skipped` +
            (p.status === "COMPLETED" ? " — finished." : "") +
            (p.status === "CANCELLED" ? " — stopped." : "")
          : "Starting…"}
      </span>
      {running
        ? (
          <button type="button" class="danger small" disabled={stopping} onClick={stop}>
            {stopping ? "Stopping…" : "Stop"}
          </button>
        )
        : <button type="button" class="link" onClick={props.onDismiss}>Dismiss</button>}
      <Notice kind="error">{error}</Notice>
    </section>
  );
}
