/** Small shared pieces: links, status badges, JSON blocks, confirmation dialogs, notices. */
import type { ComponentChildren, TargetedEvent } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { describeError, toJson } from "./format.ts";
import { onLinkClick } from "./router.ts";

/** An in-app link (a real `<a href>`, so it opens in a new tab too). */
export function Link(
  props: { href: string; children: ComponentChildren; class?: string; current?: boolean },
) {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={props.current ? "page" : undefined}
      onClick={onLinkClick}
    >
      {props.children}
    </a>
  );
}

/** A run, worker or step status as a coloured word. */
export function Status(props: { value: string }) {
  return <span class={`status status-${props.value.toLowerCase()}`}>{props.value}</span>;
}

/** A JSON value in a scrollable block with a Copy button. */
export function Json(props: { label: string; value: unknown }) {
  const text = toJson(props.value);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard?.writeText(text).catch(() => {});
    setCopied(true);
    setTimeout(() => setCopied(false), 1_500);
  };
  return (
    <section class="json" aria-label={props.label}>
      <header>
        <h3>{props.label}</h3>
        <button type="button" class="small" onClick={copy} aria-label={`Copy ${props.label}`}>
          {copied ? "Copied" : "Copy"}
        </button>
      </header>
      <pre tabIndex={0}>{text}</pre>
    </section>
  );
}

/** A message for screen readers and eyes: errors in red, results in green. */
export function Notice(props: { kind: "error" | "ok" | "info"; children: ComponentChildren }) {
  if (!props.children) return null;
  return (
    <p class={`notice notice-${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </p>
  );
}

/** Options of {@linkcode Confirm}. */
export interface ConfirmProps {
  title: string;
  /** The button that does it, e.g. "Cancel run". */
  action: string;
  danger?: boolean;
  children?: ComponentChildren;
  /** Does the work; a rejection is shown in the dialog, which stays open. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

/** A modal `<dialog>` asking to confirm an action; shows its error in plain words. */
export function Confirm(props: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  const submit = async (e: TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await props.onConfirm();
      props.onClose();
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} onClose={props.onClose} aria-labelledby="confirm-title">
      <form onSubmit={submit}>
        <h2 id="confirm-title">{props.title}</h2>
        {props.children}
        <Notice kind="error">{error}</Notice>
        <div class="buttons">
          <button type="button" onClick={() => ref.current?.close()}>Close</button>
          <button type="submit" class={props.danger ? "danger" : "primary"} disabled={busy}>
            {busy ? "Working…" : props.action}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A definition list of facts about one object. */
export function Facts(props: { children: ComponentChildren }) {
  return <dl class="facts">{props.children}</dl>;
}

/** One fact: a label and its value; nothing when the value is empty. */
export function Fact(props: { label: string; children: ComponentChildren }) {
  if (props.children === "" || props.children == null) return null;
  return (
    <div>
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}
