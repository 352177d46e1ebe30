/**
 * `ctx.any({...})`: an ANY step the server decides. The branches are {@linkcode DurableWait}s
 * not yet awaited; the SDK sends what each waits for (AwaitAny) and the server, holding the
 * run's row, picks the one that resolved first — or records the wait until the earliest
 * deadline, woken by a signal of a branch's name, a token's completion or a child's end. The
 * recorded winner is what every replay returns; the losers took nothing.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AnyBranchSchema, StepKind, type StepRecord, StepStatus } from "@kagzi/proto";
import type { AnyOptions } from "./context.ts";
import { KagziError } from "./errors.ts";
import { type AnyOutcome, DurableWait, type WaitSpec } from "./_durable_wait.ts";
import type { WaitHost } from "./_waits.ts";

/** The most branches one `ctx.any` may race (the server's limit too). */
const maxBranches = 32;

function invalid(message: string, subject = "branches"): Promise<never> {
  return Promise.reject(
    new KagziError("INVALID_ARGUMENT", `ctx.any(): ${message}`, { subject, nonRetryable: true }),
  );
}

/** `ctx.any(branches, options)`: `{ key, value }` of the branch that won. */
export function anyOf(
  host: WaitHost,
  branches: Record<string, PromiseLike<unknown>>,
  options: AnyOptions = {},
): Promise<AnyOutcome> {
  if (host.gone()) return host.never;
  if (typeof branches !== "object" || branches === null || Array.isArray(branches)) {
    return invalid('pass an object of waits, like { ok: ctx.waitForSignal("ok") }');
  }
  const keys = Object.keys(branches);
  if (keys.length < 1 || keys.length > maxBranches) {
    return invalid(`${keys.length} branches; race 1 to ${maxBranches}`);
  }
  const specs: WaitSpec<unknown>[] = [];
  const seen = new Set<unknown>();
  for (const key of keys) {
    if (key.length > 64) return invalid(`key "${key.slice(0, 32)}…" is over 64 characters`);
    const w = branches[key];
    if (!(w instanceof DurableWait)) {
      return invalid(
        `branch "${key}" is not a durable wait: pass ctx.waitForSignal(…), a token's wait(), ` +
          "ctx.child(…).run(…) or a child handle's result(), or ctx.sleep(…), without awaiting it",
      );
    }
    if (seen.has(w)) return invalid(`branch "${key}" is the same wait as another branch`);
    seen.add(w);
    const spec = w.claim(key);
    if (typeof spec === "string") return invalid(spec);
    if (spec.problem) return Promise.reject(spec.problem);
    specs.push(spec);
  }
  const name = options.name ?? keys.join("|");
  if (name.length > 256) return invalid("the keys are too long to name the wait; pass a name");
  const { occurrence, record } = host.next(StepKind.ANY, name);

  const outcome = (rec: StepRecord): Promise<AnyOutcome> => {
    if (rec.status === StepStatus.WAITING) {
      return rec.wakeUpAt ? host.waitUntil(timestampDate(rec.wakeUpAt)) : host.waitForever();
    }
    const i = keys.indexOf(rec.anyKey);
    if (i < 0) {
      return Promise.reject(
        new KagziError(
          "PRECONDITION_FAILED",
          `ctx.any("${name}"): the run's history says branch "${rec.anyKey}" won, which the ` +
            `code no longer has (it has ${keys.map((k) => `"${k}"`).join(", ")})`,
          { subject: "any", subjectId: name, nonRetryable: true },
        ),
      );
    }
    const s = specs[i];
    const branchRec = { ...rec, step: { ...rec.step!, kind: s.kind, name: s.name } };
    return s.settle(branchRec as StepRecord).then((value) =>
      s.kind === StepKind.SLEEP ? { key: keys[i] } : { key: keys[i], value }
    );
  };

  const race = record && record.status !== StepStatus.WAITING ? outcome(record) : host.track(
    // A recorded wait still WAITING is the history's own: only a new one must match it.
    (record ? Promise.resolve(true) : host.fresh(StepKind.ANY, name, occurrence))
      .then(async (ok) => {
        if (!ok) return undefined;
        // What a branch waits on must exist first (a child started by ctx.child().run()).
        for (const s of specs) if (s.prepare && !(await s.prepare())) return undefined;
        return await host.call("awaitAny", {
          lease: host.lease,
          step: { kind: StepKind.ANY, name, occurrence },
          branches: keys.map((key, i) =>
            create(AnyBranchSchema, {
              key,
              step: { kind: specs[i].kind, name: specs[i].name, occurrence: specs[i].occurrence },
              deadline: specs[i].deadline && timestampFromDate(specs[i].deadline!),
            })
          ),
        });
      }),
  ).then((res) => (res?.record ? outcome(res.record) : host.never));
  keys.forEach((key) => (branches[key] as DurableWait<unknown>).adopt(key, race));
  return race;
}
