/** WorkflowService handlers for signals: SignalWorkflow, ListSignals, and signal-with-start. */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ListSignalsResponseSchema,
  SignalSchema,
  SignalWorkflowResponseSchema,
  type StartSignal,
  StartWorkflowResponseSchema,
  type WorkflowService,
} from "@kagzi/proto";
import { ConflictError, PreconditionError, ResourceExhaustedError } from "../errors.ts";
import { workTopic } from "../engine/notify.ts";
import type { Queryable } from "../store/db.ts";
import * as runs from "../store/runs.ts";
import * as starts from "../store/run_starts.ts";
import * as signals from "../store/signals.ts";
import { runNotFound } from "./_not_found.ts";
import { startsPast } from "./_duplicates.ts";
import type { ServiceContext } from "./_context.ts";
import { payloadOf, statusToProto, ts } from "./_convert.ts";
import * as v from "./_validate.ts";

type SignalHandlers = Pick<ServiceImpl<typeof WorkflowService>, "signalWorkflow" | "listSignals">;

/** A checked signal of a request (SignalWorkflow or a start's `signal`). */
export interface CheckedSignal {
  name: string;
  payload: { data: Uint8Array; metadata: Record<string, string> } | null;
  idempotencyKey: string | null;
}

/** Checks the name, payload and idempotency key of a signal; `prefix` names the fields. */
export function checkSignal(
  op: string,
  prefix: string,
  name: string,
  payload: StartSignal["payload"],
  idempotencyKey: string,
): CheckedSignal {
  return {
    name: v.name(op, `${prefix}name`, name),
    payload: payload ? v.payload(op, `${prefix}payload`, payload) : null,
    idempotencyKey: v.name(op, `${prefix}idempotency_key`, idempotencyKey, false) || null,
  };
}

/** Stores a signal for a run inside `tx`, turning each refusal into its error. */
export async function deliver(
  ctx: ServiceContext,
  tx: Queryable,
  op: string,
  namespaceId: string,
  runId: string,
  s: CheckedSignal,
): Promise<{ signalId: string; alreadyExists: boolean; woke: boolean }> {
  const res = await signals.deliverSignal(
    tx,
    { namespaceId, runId, ...s },
    ctx.config.maxPendingSignals,
  );
  switch (res.kind) {
    case "not_found":
      throw runNotFound(namespaceId, runId);
    case "finished":
      throw new PreconditionError(
        "run",
        runId,
        `Cannot ${op}: run "${runId}" is already ${res.status}; only PENDING, RUNNING or ` +
          `SLEEPING runs take signals`,
      );
    case "full":
      throw new ResourceExhaustedError(
        "signals",
        `Cannot ${op}: run "${runId}" already holds ${res.pending} unconsumed signals; the ` +
          `limit is ${ctx.config.maxPendingSignals}`,
        runId,
      );
    case "duplicate":
      return { signalId: res.signalId, alreadyExists: true, woke: false };
    case "stored":
      return { signalId: res.signalId, alreadyExists: false, woke: res.woke };
  }
}

/** The signal handlers of WorkflowService. */
export function signalHandlers(ctx: ServiceContext): SignalHandlers {
  const { db, notifier } = ctx;
  return {
    async signalWorkflow(req) {
      const op = "signal workflow";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const s: CheckedSignal = {
        name: v.name(op, "signal_name", req.signalName),
        payload: req.payload ? v.payload(op, "payload", req.payload) : null,
        idempotencyKey: v.name(op, "idempotency_key", req.idempotencyKey, false) || null,
      };
      const res = await db.transaction((tx) => deliver(ctx, tx, op, namespaceId, runId, s));
      if (res.woke) notifier.publish(workTopic(namespaceId));
      return create(SignalWorkflowResponseSchema, {
        signalId: res.signalId,
        alreadyExists: res.alreadyExists,
      });
    },

    async listSignals(req) {
      const op = "list signals";
      const namespaceId = v.namespace(op, req.namespace);
      const runId = v.runId(op, req.runId);
      const name = v.name(op, "signal_name", req.signalName, false);
      const size = v.pageSize(op, req.page?.pageSize ?? 0);
      const after = v.numericCursor(op, req.page?.pageToken ?? "");
      const rows = await signals.listSignals(db, namespaceId, runId, name, after, size + 1);
      if (rows.length === 0 && after === null && !(await runs.getRun(db, namespaceId, runId))) {
        throw runNotFound(namespaceId, runId);
      }
      const { items, page } = v.pageOf(rows, size, (r) => r.seq);
      return create(ListSignalsResponseSchema, {
        signals: items.map((r) =>
          create(SignalSchema, {
            signalId: r.signal_id,
            runId: r.run_id,
            name: r.name,
            payload: payloadOf(r.data, r.metadata),
            idempotencyKey: r.idempotency_key ?? "",
            createdAt: ts(r.created_at),
            consumedAt: ts(r.consumed_at),
            consumedByOccurrence: r.consumed_by ?? 0,
          })
        ),
        page,
      });
    },
  };
}

/**
 * Signal-with-start: in one transaction, starts the run and stores the signal for it, or
 * delivers the signal to the open run holding the workflow_id.
 */
export async function signalWithStart(
  ctx: ServiceContext,
  op: string,
  run: starts.NewRun,
  s: CheckedSignal,
) {
  const { db, notifier } = ctx;
  const res = await db.transaction(async (tx) => {
    const inserted = await starts.insertRun(tx, run);
    if (inserted) {
      const d = await deliver(ctx, tx, op, run.namespaceId, inserted.run_id, s);
      return { runId: inserted.run_id, status: inserted.status, existed: false, ...d };
    }
    const open = await runs.findActiveRun(tx, run.namespaceId, run.workflowId);
    if (!open) {
      // An ended run keeps the id and this mode starts no new one past it: a signal cannot
      // reach an ended run, so the call is refused (else: it ended in between, try again).
      const mode = run.onDuplicate ?? "return-existing";
      const newest = await runs.findNewestRun(tx, run.namespaceId, run.workflowId);
      if (newest && !startsPast(mode, newest.status)) {
        throw new ConflictError(
          "workflow_id",
          run.workflowId,
          `Cannot ${op}: "workflow_id" ${v.show(run.workflowId)} is kept by the ` +
            `${newest.status} run "${newest.run_id}" (on_duplicate "${mode}"), and ` +
            "a signal cannot reach an ended run; nothing was started or signalled",
        );
      }
      return undefined;
    }
    if (open.workflow_type !== run.workflowType) {
      throw new ConflictError(
        "workflow_id",
        run.workflowId,
        `Cannot ${op}: "workflow_id" ${v.show(run.workflowId)} is held by a running workflow ` +
          `of type ${v.show(open.workflow_type)}, not ${v.show(run.workflowType)}`,
      );
    }
    const d = await deliver(ctx, tx, op, run.namespaceId, open.run_id, s);
    return { runId: open.run_id, status: open.status, existed: true, ...d };
  });
  if (!res) return undefined;
  if (!res.existed || res.woke) notifier.publish(workTopic(run.namespaceId));
  return create(StartWorkflowResponseSchema, {
    runId: res.runId,
    workflowId: run.workflowId,
    alreadyExists: res.existed,
    status: statusToProto(res.status),
    signalId: res.signalId,
  });
}
