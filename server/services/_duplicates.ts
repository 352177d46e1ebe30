/**
 * StartWorkflow's `on_duplicate`: what a start does when a retained run already has its
 * workflow id (see migration 0008), and the answer when it did not insert.
 */
import { OnDuplicate as WireOnDuplicate } from "@kagzi/proto";
import { ConflictError, InvalidArgumentError } from "../errors.ts";
import type { OnDuplicate } from "../store/run_starts.ts";
import type { RunRow } from "../store/runs.ts";
import * as v from "./_validate.ts";

const modes: Record<number, OnDuplicate> = {
  [WireOnDuplicate.UNSPECIFIED]: "return-existing",
  [WireOnDuplicate.RETURN_EXISTING]: "return-existing",
  [WireOnDuplicate.ALLOW_AFTER_FAILURE]: "allow-after-failure",
  [WireOnDuplicate.ALLOW_AFTER_END]: "allow-after-end",
  [WireOnDuplicate.FAIL]: "fail",
};

/** The mode asked for; INVALID_ARGUMENT naming `on_duplicate` for a value outside the enum. */
export function onDuplicateOf(op: string, value: number): OnDuplicate {
  const mode = modes[value];
  if (!mode) {
    throw new InvalidArgumentError(
      "on_duplicate",
      `Cannot ${op}: "on_duplicate" ${value} is not one of 0-4 (unspecified, return-existing, allow-after-failure, allow-after-end, fail)`,
    );
  }
  return mode;
}

/** Whether `mode` starts a new run past a newest run with `status`. */
export function startsPast(mode: OnDuplicate, status: string): boolean {
  if (mode === "allow-after-end") return ["COMPLETED", "FAILED", "CANCELLED"].includes(status);
  if (mode === "allow-after-failure") return ["FAILED", "CANCELLED"].includes(status);
  return false;
}

/**
 * Checks that the retained run `existing` may be returned for a start of `workflowType` with
 * `mode`: CONFLICT for "fail", or when it is of another type.
 */
export function checkExisting(
  op: string,
  mode: OnDuplicate,
  workflowId: string,
  workflowType: string,
  existing: RunRow,
): void {
  const holder = `the ${existing.status} run "${existing.run_id}"`;
  if (mode === "fail") {
    throw new ConflictError(
      "workflow_id",
      workflowId,
      `Cannot ${op}: "workflow_id" ${
        v.show(workflowId)
      } is kept by ${holder} (on_duplicate "fail")`,
    );
  }
  if (existing.workflow_type !== workflowType) {
    throw new ConflictError(
      "workflow_id",
      workflowId,
      `Cannot ${op}: "workflow_id" ${v.show(workflowId)} is kept by ${holder} of type ${
        v.show(existing.workflow_type)
      }, not ${v.show(workflowType)}`,
    );
  }
}
