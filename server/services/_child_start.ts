/**
 * What StartChild starts, and how a refused child start is recorded: every check of the
 * child's own fields (type, id, version, input, retry policy, parent close policy, the values
 * the transport's message check leaves to this handler — `http/message_check.ts` — and the keys
 * of its type's flow control) and a workflow id held by a run of another type are permanent:
 * the same request is refused again on every try. Such a refusal becomes the CHILD step's stored outcome
 * ({@linkcode refusalJson}), so the parent's `ctx.child()` rejects with it once and on every
 * replay, instead of the worker retrying the start forever. A database fault is not one of them:
 * it propagates (UNAVAILABLE) and the worker tries again.
 */
import { create } from "@bufbuild/protobuf";
import {
  ErrorCode,
  ErrorDetailSchema,
  ParentClosePolicy,
  type StartChildRequest,
  StartChildRequestSchema,
} from "@kagzi/proto";
import { ConflictError, InvalidArgumentError, KagziServerError } from "../errors.ts";
import type { ChildSpec } from "../store/children.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson, retryToJson } from "./_convert.ts";
import { planStart } from "./_flow_start.ts";
import { badFieldError, findBadValue } from "./_message_values.ts";
import { checkRetryPolicy } from "./_retry.ts";
import * as v from "./_validate.ts";

/**
 * The child a StartChild request starts (`defaultId` when it names no workflow id). Throws a
 * {@linkcode KagziServerError} for a request that would be refused again on every try (see
 * {@linkcode isRefusal}); anything else it throws (a database fault) is not.
 */
export async function planChild(
  ctx: ServiceContext,
  op: string,
  namespaceId: string,
  req: StartChildRequest,
  defaultId: string,
): Promise<ChildSpec> {
  // The held run's own fields passed the message check; the child's are checked here.
  const bad = findBadValue(StartChildRequestSchema, req);
  if (bad) throw badFieldError("StartChild", bad);
  const workflowType = v.name(op, "workflow_type", req.workflowType);
  // The default id is the same on every replay, so a child is never started twice.
  const workflowId = v.name(op, "workflow_id", req.workflowId, false) || defaultId;
  const version = v.name(op, "version", req.version, false);
  const input = v.payload(op, "input", req.input);
  const retryPolicy = retryToJson(checkRetryPolicy(op, "retry_policy", req.retryPolicy));
  const policy = req.parentClosePolicy === ParentClosePolicy.ABANDON ? "abandon" : "cancel";
  if (
    req.parentClosePolicy !== ParentClosePolicy.UNSPECIFIED &&
    req.parentClosePolicy !== ParentClosePolicy.CANCEL &&
    req.parentClosePolicy !== ParentClosePolicy.ABANDON
  ) {
    throw new InvalidArgumentError(
      "parent_close_policy",
      `Cannot ${op}: "parent_close_policy" ${req.parentClosePolicy} is not a policy (0-2)`,
    );
  }
  // Its flow control (keys from its input, the type's priority); debounce does not apply. An
  // input that cannot give a key the limits need is refused naming the type and the key.
  const what = `${op} of type ${v.show(workflowType)}`;
  const { flow } = await planStart(ctx, what, namespaceId, workflowType, version, input);
  return { workflowType, workflowId, version, input, parentClosePolicy: policy, retryPolicy, flow };
}

/** The refusal of a child whose workflow id is held by an open run of another type. */
export function heldIdError(op: string, child: ChildSpec, heldBy: string): ConflictError {
  return new ConflictError(
    "workflow_id",
    child.workflowId,
    `Cannot ${op}: "workflow_id" ${v.show(child.workflowId)} is held by a running ` +
      `workflow of type ${v.show(heldBy)}, not ${v.show(child.workflowType)}`,
  );
}

/**
 * True for an error of {@linkcode planChild} or {@linkcode heldIdError} that refuses the
 * child for good; false for a lost lease and for anything not raised on purpose (a database
 * fault), which the worker retries.
 */
export function isRefusal(err: unknown): err is KagziServerError {
  return err instanceof KagziServerError && err.code !== ErrorCode.PRECONDITION_FAILED &&
    err.code !== ErrorCode.UNAVAILABLE;
}

/**
 * A refused child start as its CHILD step's stored failure, with the refusal's own code,
 * field and id; not retryable. The SDK tells it from a child that ran and failed by its name,
 * "ChildStartRefusedError" (sdk/_waits.ts).
 */
export function refusalJson(err: KagziServerError): ReturnType<typeof errorToJson> {
  return errorToJson(create(ErrorDetailSchema, {
    code: err.code,
    name: "ChildStartRefusedError",
    message: err.message,
    subject: err.subject,
    subjectId: err.subjectId,
    nonRetryable: true,
  }));
}
