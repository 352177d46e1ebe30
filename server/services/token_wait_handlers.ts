/**
 * WorkerService handlers for a held run's tokens and waits for any: CreateToken (the TOKEN step
 * with its id and signed URL) and AwaitAny (the ANY step deciding the first of its branches).
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type AnyBranch,
  AwaitAnyResponseSchema,
  CreateTokenResponseSchema,
  ErrorCode,
  ErrorDetailSchema,
  StepKind,
  type WorkerService,
} from "@kagzi/proto";
import { InvalidArgumentError } from "../errors.ts";
import { type AnyBranchJson, awaitAny } from "../store/any_waits.ts";
import { createToken } from "../store/tokens.ts";
import type { ServiceContext } from "./_context.ts";
import { errorToJson } from "./_convert.ts";
import { HeldRun, stepRef } from "./_lease.ts";
import { stepRecordToProto } from "./_steps.ts";
import { dateOf } from "./_time.ts";
import * as v from "./_validate.ts";

type TokenWaitHandlers = Pick<ServiceImpl<typeof WorkerService>, "createToken" | "awaitAny">;

/** The most branches one wait for any may have. */
export const maxAnyBranches = 32;

const branchKinds: Partial<Record<StepKind, AnyBranchJson["kind"]>> = {
  [StepKind.SIGNAL]: "SIGNAL",
  [StepKind.TOKEN]: "TOKEN",
  [StepKind.CHILD]: "CHILD",
  [StepKind.SLEEP]: "SLEEP",
};

/** The error a wait settles with when its time ran out, as stored (ErrorDetail JSON). */
function timedOut(name: string, what: "signal" | "token", at: Date) {
  return errorToJson(create(ErrorDetailSchema, {
    code: ErrorCode.TIMEOUT,
    name: what === "signal" ? "SignalTimeoutError" : "TokenTimeoutError",
    nonRetryable: true,
    subject: what,
    subjectId: name,
    message: what === "signal"
      ? `No signal "${name}" arrived before ${at.toISOString()}`
      : `Token "${name}" was not completed before ${at.toISOString()}`,
  }));
}

/** Checks the branches of an AwaitAny request. */
function checkBranches(op: string, branches: AnyBranch[]): AnyBranchJson[] {
  if (branches.length < 1 || branches.length > maxAnyBranches) {
    throw new InvalidArgumentError(
      "branches",
      `Cannot ${op}: "branches" must hold 1 to ${maxAnyBranches} branches, not ${branches.length}`,
    );
  }
  const keys = new Set<string>();
  return branches.map((b, i) => {
    const field = `branches[${i}]`;
    const key = v.name(op, `${field}.key`, b.key);
    if (key.length > 64) {
      throw new InvalidArgumentError(
        `${field}.key`,
        `Cannot ${op}: "${field}.key" is over 64 characters`,
      );
    }
    if (keys.has(key)) {
      throw new InvalidArgumentError(
        `${field}.key`,
        `Cannot ${op}: key ${v.show(key)} is used twice`,
      );
    }
    keys.add(key);
    const kind = b.step ? branchKinds[b.step.kind] : undefined;
    if (!kind) {
      throw new InvalidArgumentError(
        `${field}.step.kind`,
        `Cannot ${op}: "${field}.step.kind" must be SIGNAL, TOKEN, CHILD or SLEEP`,
      );
    }
    const ref = stepRef(op, b.step, kind);
    const deadline = dateOf(op, `${field}.deadline`, b.deadline) ?? null;
    if (kind === "SLEEP" && !deadline) {
      throw new InvalidArgumentError(
        `${field}.deadline`,
        `Cannot ${op}: "${field}.deadline" is required for a sleep`,
      );
    }
    return {
      key,
      kind,
      name: ref.name,
      occurrence: ref.occurrence,
      deadline: deadline?.toISOString() ?? null,
    };
  });
}

/** The token and wait-for-any handlers of WorkerService. */
export function tokenWaitHandlers(ctx: ServiceContext): TokenWaitHandlers {
  const { db } = ctx;
  return {
    async createToken(req, call) {
      const op = "create token";
      const run = HeldRun.open(op, req);
      const ref = stepRef(op, req.step, "TOKEN");
      const timeoutAt = dateOf(op, "timeout_at", req.timeoutAt) ?? null;
      const row = await db.transaction((tx) => createToken(tx, run.step(ref), timeoutAt));
      if (!row) throw run.lost();
      const record = stepRecordToProto(row);
      await ctx.tokens.fillUrls(call.url, run.namespaceId, [record]);
      return create(CreateTokenResponseSchema, { record });
    },

    async awaitAny(req) {
      const op = "await any";
      const run = HeldRun.open(op, req);
      const ref = stepRef(op, req.step, "ANY");
      const branches = checkBranches(op, req.branches);
      const res = await db.transaction((tx) =>
        awaitAny(tx, run.step(ref), branches, {
          signal: (name, at) => timedOut(name, "signal", at),
          token: (name, at) => timedOut(name, "token", at),
        })
      );
      if (res.kind === "lost") throw run.lost();
      if (res.kind === "missing") {
        throw new InvalidArgumentError(
          "branches",
          `Cannot ${op}: branch ${v.show(res.branch.key)} names ${res.branch.kind.toLowerCase()} ` +
            `${v.show(res.branch.name)}#${res.branch.occurrence}, which this run has not created`,
        );
      }
      return create(AwaitAnyResponseSchema, { record: stepRecordToProto(res.step) });
    },
  };
}
