/** A run's history as the dashboard shows it: steps with their attempts, and its waits in words. */
import type { StepAttemptInfo, WorkflowWait } from "@kagzi/sdk/client";
import { formatTime, relative } from "./format.ts";

/** One step of a run (a function step, sleep, signal wait or child run) with every attempt. */
export interface TimelineStep {
  key: string;
  kind: StepAttemptInfo["kind"];
  /** The name, with "#n" for the n-th use of the same name (n > 1). */
  label: string;
  /**
   * The last attempt's status, as shown: TIMED_OUT for a signal wait whose timeout passed (an
   * outcome the workflow handles, not a failure of the run), SUPERSEDED for attempts a resume
   * "from here" set aside.
   */
  status: StepAttemptInfo["status"] | "TIMED_OUT" | "SUPERSEDED";
  attempts: StepAttemptInfo[];
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  childRunId: string | undefined;
}

/**
 * When an attempt ended: its finish time, or for a finished sleep (stored without one) the time
 * it was due to wake; undefined while it goes on.
 */
export function attemptEnd(a: StepAttemptInfo): Date | undefined {
  if (a.finishedAt) return a.finishedAt;
  if (a.status === "COMPLETED" || a.status === "FAILED") return a.wakeUpAt ?? a.startedAt;
  return undefined;
}

/** Groups attempts (in the order they started) into steps, in the order the steps started. */
export function timeline(attempts: StepAttemptInfo[]): TimelineStep[] {
  const steps = new Map<string, TimelineStep>();
  for (const a of attempts) {
    const key = `${a.kind}\u0000${a.name}\u0000${a.occurrence}\u0000${a.supersededAt ? "s" : ""}`;
    let s = steps.get(key);
    if (!s) {
      s = {
        key,
        kind: a.kind,
        label: (a.occurrence > 1 ? `${a.name} #${a.occurrence}` : a.name) +
          (a.supersededAt ? " (superseded)" : ""),
        status: a.status,
        attempts: [],
        startedAt: a.startedAt,
        finishedAt: undefined,
        childRunId: undefined,
      };
      steps.set(key, s);
    }
    s.attempts.push(a);
    s.attempts.sort((x, y) => x.attempt - y.attempt);
    const last = s.attempts.at(-1)!;
    s.status = shownStatus(last);
    s.finishedAt = attemptEnd(last);
    s.childRunId = s.attempts.findLast((x) => x.childRunId)?.childRunId;
  }
  return [...steps.values()];
}

/** The status an attempt is drawn with (see {@linkcode TimelineStep.status}). */
export function shownStatus(a: StepAttemptInfo): TimelineStep["status"] {
  if (a.supersededAt) return "SUPERSEDED";
  if (a.kind === "signal" && a.status === "FAILED" && a.error?.code === "TIMEOUT") {
    return "TIMED_OUT";
  }
  return a.status;
}

const kindWords: Record<StepAttemptInfo["kind"], string> = {
  function: "step",
  sleep: "sleep",
  signal: "signal wait",
  child: "child run",
  token: "token",
  any: "wait for any",
};

/** "step", "sleep", "signal wait", "child run". */
export function kindLabel(kind: StepAttemptInfo["kind"]): string {
  return kindWords[kind] ?? kind;
}

/** What a run waits for, in words: "Sleeping until 2026-… (in 5 min)". */
export function describeWait(w: WorkflowWait, now = Date.now()): string {
  const until = w.until ? `${formatTime(w.until)} (${relative(w.until, now)})` : "";
  switch (w.kind) {
    case "sleep":
      return `Sleeping ("${w.name}") until ${until || "woken"}`;
    case "signal":
      return `Waiting for signal "${w.name}"${until ? `, timing out at ${until}` : ""}`;
    case "child":
      return `Waiting for child run "${w.name}"${w.childRunId ? ` (${w.childRunId})` : ""}`;
    case "retry":
      return `Retrying step "${w.name}" at ${until || "once due"}`;
    case "token":
      return `Token "${w.name}" open${until ? `, expiring at ${until}` : ""}`;
    case "any":
      return `Waiting for the first of ${w.name.split("|").join(", ")}${
        until ? ` (the earliest deadline ${until})` : ""
      }`;
    default:
      return `Waiting for ${w.kind} "${w.name}"`;
  }
}
