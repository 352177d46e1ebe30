/**
 * Starting runs from outside a client's StartWorkflow: an event's fan-out (`emitEvent`, shared
 * by EmitEvent and hooks that emit) and a hook's run of one type (`startHookRun`).
 */
import * as events from "../store/events.ts";
import * as runs from "../store/runs.ts";
import * as starts from "../store/run_starts.ts";
import { ConflictError, InvalidArgumentError } from "../errors.ts";
import type { ServiceContext } from "./_context.ts";
import { checkExisting } from "./_duplicates.ts";
import { storedFlow } from "./_flow_keys.ts";
import { show } from "./_validate.ts";

type Data = { data: Uint8Array; metadata: Record<string, string> };

/** What an emit did: the stored event, and whether its id had been emitted before. */
export interface Emitted {
  event: events.EventRow;
  alreadyExists: boolean;
}

/**
 * Stores event `name` under `eventId` and starts one run of every type subscribed to it, all in
 * one transaction: either the event and all its runs are stored, or nothing is. An id emitted
 * before starts nothing and answers with the stored event. Each run is under its type's flow
 * control: when the data lacks (or holds a bad) key that a subscribed type's limits need, the
 * whole emit is INVALID_ARGUMENT naming every such type and key, and nothing is stored — the id
 * stays free for an emit with corrected data.
 */
export async function emitEvent(
  ctx: ServiceContext,
  namespaceId: string,
  name: string,
  eventId: string,
  data: Data,
): Promise<Emitted> {
  const started = await ctx.db.transaction(async (tx) => {
    const inserted = await events.insertEvent(tx, namespaceId, name, eventId, data);
    if (!inserted) return undefined;
    const items: starts.NewRun[] = [];
    const refused: { type: string; op: string; err: InvalidArgumentError }[] = [];
    for (const workflowType of inserted.types) {
      const runId = crypto.randomUUID();
      // The type's flow control applies as to any start: a key the data cannot give refuses.
      const op = `emit event ${show(name)} to workflow type ${show(workflowType)}`;
      const flow = await storedFlow(tx, op, namespaceId, workflowType, "", data, "data")
        .catch((err) => {
          if (!(err instanceof InvalidArgumentError)) throw err;
          refused.push({ type: workflowType, op, err });
        });
      if (refused.length) continue;
      items.push({
        namespaceId,
        runId,
        workflowId: runId,
        workflowType,
        version: "",
        deadlineAt: null,
        retryPolicy: null,
        input: data,
        context: null,
        scheduleId: null,
        flow: flow ?? undefined,
      });
    }
    if (refused.length) throw refusedEmit(name, refused);
    const rows = items.length ? await starts.insertRuns(tx, items) : [];
    const stored = items.map((it, i) => ({ it, row: rows[i] }));
    const runRows = stored.flatMap(({ it, row }) =>
      row
        ? [{ workflow_type: it.workflowType, run_id: row.run_id, workflow_id: it.workflowId }]
        : []
    );
    if (runRows.length) await events.setEventRuns(tx, namespaceId, name, eventId, runRows);
    const event: events.EventRow = {
      namespace_id: namespaceId,
      event_name: name,
      event_id: eventId,
      seq: "",
      data: data.data,
      metadata: data.metadata,
      runs: runRows,
      created_at: inserted.created_at,
    };
    return { stored, event };
  });
  if (started) {
    for (const { it, row } of started.stored) {
      if (!row) continue;
      ctx.metrics.runStarted(namespaceId, it.workflowType);
      if (row.status === "PENDING") ctx.dispatch.runDue(namespaceId, it.workflowType, row.version);
    }
    return { event: started.event, alreadyExists: false };
  }
  const event = await events.getEvent(ctx.db, namespaceId, name, eventId);
  if (!event) {
    // Only when the event was deleted between the emit and this read.
    throw new ConflictError("event_id", eventId, `Event ${show(eventId)} changed hands; try again`);
  }
  return { event, alreadyExists: true };
}

/** One error for the subscribed types an emit's data cannot start (nothing was stored). */
function refusedEmit(
  name: string,
  refused: { type: string; op: string; err: InvalidArgumentError }[],
): InvalidArgumentError {
  const tail = "; nothing was stored (neither the event nor any run)";
  const { field, message } = refused[0].err;
  if (refused.length === 1) return new InvalidArgumentError(field, message + tail);
  const why = refused.map(({ type, op, err }) =>
    `workflow type ${show(type)}: ${err.message.slice(`Cannot ${op}: `.length)}`
  );
  return new InvalidArgumentError(
    field,
    `Cannot emit event ${show(name)} to ${refused.length} of its workflow types: ` +
      why.join("; ") + tail,
  );
}

/** What a hook's start did. */
export interface HookStart {
  runId: string;
  workflowId: string;
  alreadyExists: boolean;
}

/**
 * Starts a run of `workflowType` under `workflowId` with `input`; when a retained run holds
 * the workflow id already (a repeated Idempotency-Key), answers with that run.
 */
export async function startHookRun(
  ctx: ServiceContext,
  namespaceId: string,
  workflowType: string,
  workflowId: string,
  input: Data,
): Promise<HookStart> {
  // Refused (400 at the endpoint) before anything is stored when the body lacks a key.
  const op = `start a hook's run of workflow type ${show(workflowType)}`;
  const flow = await storedFlow(ctx.db, op, namespaceId, workflowType, "", input);
  for (let i = 0; i < 5; i++) {
    const runId = crypto.randomUUID();
    const row = await starts.insertRun(ctx.db, {
      namespaceId,
      runId,
      workflowId,
      workflowType,
      version: "",
      deadlineAt: null,
      retryPolicy: null,
      input,
      context: null,
      scheduleId: null,
      flow,
    });
    if (row) {
      ctx.metrics.runStarted(namespaceId, workflowType);
      ctx.dispatch.runDue(namespaceId, workflowType, row.version);
      return { runId: row.run_id, workflowId, alreadyExists: false };
    }
    const existing = await runs.findNewestRun(ctx.db, namespaceId, workflowId);
    if (!existing) continue;
    checkExisting("start a hook's run", "return-existing", workflowId, workflowType, existing);
    return { runId: existing.run_id, workflowId, alreadyExists: true };
  }
  throw new ConflictError(
    "workflow_id",
    workflowId,
    `Cannot start a hook's run: "workflow_id" ${show(workflowId)} kept changing hands; try again`,
  );
}
