/**
 * Flow control at start: the run's keys and priority evaluated from its input by the type's
 * registered flow control, and debounced starts (joined to the pending run of their key, or
 * stored as that run, due `period` later).
 */
import { create } from "@bufbuild/protobuf";
import { type StartWorkflowResponse, StartWorkflowResponseSchema } from "@kagzi/proto";
import * as debounce from "../store/debounce.ts";
import * as starts from "../store/run_starts.ts";
import type { ServiceContext } from "./_context.ts";
import { statusToProto } from "./_convert.ts";
import { priority as checkPriority } from "./_flow.ts";
import { runFlow } from "./_flow_keys.ts";

/** What a start stores for flow control: its keys and priority, and its debounce if any. */
export interface StartFlowPlan {
  flow?: starts.StartFlow;
  debounce?: { key: string; periodMs: number; maxWaitMs: number | null };
}

/** Evaluates the flow control of a start of `type` (and `version`) with `input`. */
export async function planStart(
  ctx: ServiceContext,
  op: string,
  namespaceId: string,
  workflowType: string,
  version: string,
  input: { data: Uint8Array; metadata: Record<string, string> },
  priority?: number,
): Promise<StartFlowPlan> {
  if (priority !== undefined) checkPriority(op, "priority", priority);
  const config = await ctx.flowCache?.get(ctx.db, namespaceId, workflowType, version);
  if (!config && !priority) return {};
  const f = runFlow(op, config, input, priority);
  const flow = { priority: f.priority, slots: f.slots, caps: f.caps, rateKey: f.rateKey };
  const d = config?.debounce;
  return {
    flow,
    debounce: d && f.debounceKey !== null
      ? { key: f.debounceKey, periodMs: d.periodMs, maxWaitMs: d.maxWaitMs ?? null }
      : undefined,
  };
}

/**
 * A debounced start: joins the pending run of its key (answered with `debounced`), else stores
 * the run due `period` from now. Undefined when nothing was stored: its workflow id is kept by
 * another run, or another start of the key stored the pending run in between (the caller tries
 * again, and joins it).
 */
export async function debouncedStart(
  ctx: ServiceContext,
  run: starts.NewRun,
  d: NonNullable<StartFlowPlan["debounce"]>,
): Promise<StartWorkflowResponse | undefined> {
  const joined = await debounce.joinDebounced(
    ctx.db,
    run.namespaceId,
    run.workflowType,
    d.key,
    d.periodMs,
    run.input,
    run.flow!,
  );
  if (joined) {
    return create(StartWorkflowResponseSchema, {
      runId: joined.run_id,
      workflowId: joined.workflow_id,
      status: statusToProto("PENDING"),
      debounced: true,
    });
  }
  const inserted = await starts.insertRun(ctx.db, { ...run, debounce: d });
  if (!inserted) return undefined;
  ctx.dispatch.runDue(run.namespaceId, run.workflowType, inserted.version);
  return create(StartWorkflowResponseSchema, {
    runId: inserted.run_id,
    workflowId: run.workflowId,
    status: statusToProto(inserted.status),
  });
}
