/**
 * Opening a write to a held run: the namespace, worker and lease every such request carries,
 * checked once ({@linkcode HeldRun.open}), and the step reference it names ({@linkcode stepRef}).
 */
import { type Lease, StepKind, type StepRef } from "@kagzi/proto";
import { InvalidArgumentError, LeaseLostError } from "../errors.ts";
import type * as steps from "../store/steps.ts";
import * as v from "./_validate.ts";

const wireKinds: Record<steps.StepKind, StepKind> = {
  FUNCTION: StepKind.FUNCTION,
  SLEEP: StepKind.SLEEP,
  SIGNAL: StepKind.SIGNAL,
  CHILD: StepKind.CHILD,
  TOKEN: StepKind.TOKEN,
  ANY: StepKind.ANY,
};

/** The fields of a request that writes to a run it holds. */
export interface HeldRunRequest {
  namespace: string;
  workerId: string;
  lease?: Lease;
}

/** A run a worker holds, as a request names it: the namespace, the worker and the lease. */
export class HeldRun {
  private constructor(
    /** The run's namespace. */
    readonly namespaceId: string,
    /** The calling worker ("" when the request's worker is not read). */
    readonly workerId: string,
    /** The held run. */
    readonly runId: string,
    /** The fence of the claim the lease is for. */
    readonly fence: string,
  ) {}

  /**
   * Checks a request's namespace, `worker_id` and lease, in that order. With `anyWorker`, the
   * lease alone stands for the caller and `worker_id` is not read.
   */
  static open(op: string, req: HeldRunRequest, options: { anyWorker?: boolean } = {}): HeldRun {
    const namespaceId = v.namespace(op, req.namespace);
    const workerId = options.anyWorker ? "" : v.runId(op, req.workerId, "worker_id");
    const { runId, fence } = lease(op, req.lease);
    return new HeldRun(namespaceId, workerId, runId, fence);
  }

  /** The key of one of its steps, for the store's writes under this lease. */
  step(ref: { kind: steps.StepKind; name: string; occurrence: number }): steps.StepKey {
    const { namespaceId, runId, fence, workerId } = this;
    return { namespaceId, runId, fence, workerId, ...ref };
  }

  /** The error for a lease that no longer holds (the run was reclaimed or ended). */
  lost(): LeaseLostError {
    return new LeaseLostError(this.runId, BigInt(this.fence));
  }
}

/** The run and fence of a request's lease. */
export function lease(op: string, l: Lease | undefined): { runId: string; fence: string } {
  if (!l) throw new InvalidArgumentError("lease", `Cannot ${op}: "lease" is required`);
  const runId = v.runId(op, l.runId, "lease.run_id");
  if (l.fence <= 0n) {
    throw new InvalidArgumentError("lease.fence", `Cannot ${op}: "lease.fence" must be positive`);
  }
  return { runId, fence: l.fence.toString() };
}

/**
 * A step reference of the expected kind (UNSPECIFIED is taken as that kind); `field` names it in
 * the request (`step`, or e.g. `steps[0].step`).
 */
export function stepRef(
  op: string,
  s: StepRef | undefined,
  kind: steps.StepKind,
  field = "step",
): { kind: steps.StepKind; name: string; occurrence: number } {
  if (!s) throw new InvalidArgumentError(field, `Cannot ${op}: "${field}" is required`);
  if (s.kind !== wireKinds[kind] && s.kind !== StepKind.UNSPECIFIED) {
    throw new InvalidArgumentError(
      `${field}.kind`,
      `Cannot ${op}: "${field}.kind" must be ${kind}`,
    );
  }
  const name = v.name(op, `${field}.name`, s.name);
  if (s.occurrence < 1) {
    throw new InvalidArgumentError(
      `${field}.occurrence`,
      `Cannot ${op}: "${field}.occurrence" must be 1 or more`,
    );
  }
  return { kind, name, occurrence: s.occurrence };
}
