/**
 * The step outputs a CompleteWorkflow or a Sleep carries (`steps`): checked as CompleteStep
 * checks its own, each bad field named within the request (`steps[0].output.data`).
 */
import type { StepOutput as WireStepOutput } from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import type { StepOutput } from "../store/step_results.ts";
import { type HeldRun, stepRef } from "./_lease.ts";
import { dateOf } from "./_time.ts";
import * as v from "./_validate.ts";

/** The most step outputs one call carries. */
const maxCarriedSteps = 100;

/** The checked step outputs a call carries, keyed under its lease. */
export function carriedSteps(
  op: string,
  run: HeldRun,
  steps: WireStepOutput[],
): StepOutput[] {
  v.batchSize(op, "steps", steps.length, maxCarriedSteps);
  const seen = new Set<string>();
  return steps.map((s, i) => {
    const at = `steps[${i}]`;
    const ref = stepRef(op, s.step, "FUNCTION", `${at}.step`);
    const key = JSON.stringify([ref.name, ref.occurrence]);
    if (seen.has(key)) {
      throw new InvalidArgumentError(
        `${at}.step`,
        `Cannot ${op}: "${at}.step" names step ${v.show(ref.name)} #${ref.occurrence} twice`,
      );
    }
    seen.add(key);
    return {
      key: run.step(ref),
      output: v.payload(op, `${at}.output`, s.output),
      startedAt: dateOf(op, `${at}.started_at`, s.startedAt) ?? null,
    };
  });
}
