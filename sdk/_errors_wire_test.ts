/**
 * The stored form of thrown errors: cause chains (bounded, cycles, values that are not Errors)
 * and the errors rebuilt from it.
 */
import assert from "node:assert/strict";
import { toErrorDetail } from "./_errors_wire.ts";
import { failureOf, KagziError, NonRetryableError, StepFailedError } from "./errors.ts";

/** The names and messages of a detail and its causes. */
function chain(d = toErrorDetail(undefined)): string[] {
  const out: string[] = [];
  for (let c: typeof d | undefined = d; c; c = c.cause) out.push(`${c.name}: ${c.message}`);
  return out;
}

Deno.test("toErrorDetail() stores an error's cause chain, 3 causes deep at most", () => {
  let e: Error | undefined;
  for (let i = 5; i >= 1; i--) e = new Error(`e${i}`, { cause: e });
  assert.deepEqual(chain(toErrorDetail(e)), ["Error: e1", "Error: e2", "Error: e3", "Error: e4"]);
  const d = toErrorDetail(new RangeError("outer", { cause: new TypeError("inner") }));
  assert.match(d.cause!.stack, /^TypeError: inner\n\s+at /);
  // Not to a server that would drop them (one that does not say error_causes at Register).
  assert.equal(toErrorDetail(new RangeError("outer", { cause: d }), false).cause, undefined);
});

Deno.test("toErrorDetail() stores a cycle of causes once, and no cause for undefined or null", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  a.cause = b;
  assert.deepEqual(chain(toErrorDetail(a)), ["Error: a", "Error: b"]);
  const self = new Error("self");
  self.cause = self;
  assert.deepEqual(chain(toErrorDetail(self)), ["Error: self"]);
  assert.equal(toErrorDetail(new Error("x", { cause: undefined })).cause, undefined);
  assert.equal(toErrorDetail(new Error("x", { cause: null })).cause, undefined);
});

Deno.test("toErrorDetail() describes a cause that is not an Error as a thrown value is", () => {
  const d = toErrorDetail(new KagziError("APPLICATION", "x", { cause: { code: 42, n: 1n } }));
  assert.deepEqual(chain(d), ["KagziError: x", 'Error: {"code":42,"n":"1n"}']);
  const bad = new Error("kept");
  Object.defineProperty(bad, "cause", {
    get() {
      throw new Error("no");
    },
  });
  assert.deepEqual(chain(toErrorDetail(bad)), ["Error: kept"]);
});

Deno.test("failureOf() gives a stored failure's name, stack and causes; no stack: one line", () => {
  const thrown = new NonRetryableError("declined", { cause: new RangeError("range") });
  const e = failureOf(toErrorDetail(thrown));
  assert.equal(e.name, "NonRetryableError");
  assert.equal(e.metadata.name, "NonRetryableError");
  assert.equal(e.stack, thrown.stack);
  const cause = e.cause as KagziError;
  assert.ok(cause instanceof KagziError);
  assert.deepEqual([cause.name, cause.message], ["RangeError", "range"]);
  assert.equal(cause.stack, (thrown.cause as Error).stack);
  const bare = failureOf({ ...toErrorDetail(new Error("x")), name: "", stack: "" });
  assert.deepEqual([bare.name, bare.stack], ["KagziError", "KagziError: x"]);
});

Deno.test("StepFailedError's cause is the step's error; stored again it keeps that error", () => {
  const detail = toErrorDetail(new RangeError("range", { cause: new Error("root") }));
  const e = new StepFailedError("s", detail);
  assert.equal(e.name, "StepFailedError");
  assert.deepEqual(chain(toErrorDetail(e.cause)), ["RangeError: range", "Error: root"]);
  assert.deepEqual(chain(toErrorDetail(e)), ['RangeError: Step "s" failed: range', "Error: root"]);
});
