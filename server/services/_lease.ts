/** Validation of the lease and step reference that every write of a held run carries. */
import { type Lease, StepKind, type StepRef } from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import type * as steps from "../store/steps.ts";
import * as v from "./_validate.ts";

const wireKinds: Record<steps.StepKind, StepKind> = {
  FUNCTION: StepKind.FUNCTION,
  SLEEP: StepKind.SLEEP,
  SIGNAL: StepKind.SIGNAL,
  CHILD: StepKind.CHILD,
};

/** The run and fence of a request's lease. */
export function lease(op: string, l: Lease | undefined): { runId: string; fence: string } {
  if (!l) throw new InvalidArgumentError("lease", `Cannot ${op}: "lease" is required`);
  const runId = v.runId(op, l.runId, "lease.run_id");
  if (l.fence <= 0n) {
    throw new InvalidArgumentError("lease.fence", `Cannot ${op}: "lease.fence" must be positive`);
  }
  return { runId, fence: l.fence.toString() };
}

/** A step reference of the expected kind (UNSPECIFIED is taken as that kind). */
export function stepRef(
  op: string,
  s: StepRef | undefined,
  kind: steps.StepKind,
): { kind: steps.StepKind; name: string; occurrence: number } {
  if (!s) throw new InvalidArgumentError("step", `Cannot ${op}: "step" is required`);
  if (s.kind !== wireKinds[kind] && s.kind !== StepKind.UNSPECIFIED) {
    throw new InvalidArgumentError("step.kind", `Cannot ${op}: "step.kind" must be ${kind}`);
  }
  const name = v.name(op, "step.name", s.name);
  if (s.occurrence < 1) {
    throw new InvalidArgumentError(
      "step.occurrence",
      `Cannot ${op}: "step.occurrence" must be 1 or more`,
    );
  }
  return { kind, name, occurrence: s.occurrence };
}
