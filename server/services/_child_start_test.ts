/** Which errors of a child start are refusals recorded as its outcome, and which are retried. */
import assert from "node:assert/strict";
import { ConflictError, InvalidArgumentError, LeaseLostError } from "../errors.ts";
import { isRefusal } from "./_child_start.ts";

Deno.test("isRefusal() takes a bad argument or a held id for good, a lost lease or a database fault not", () => {
  assert.ok(isRefusal(new InvalidArgumentError("version", "bad")));
  assert.ok(isRefusal(new ConflictError("workflow_id", "taken", "held")));
  assert.ok(!isRefusal(new LeaseLostError("00000000-0000-0000-0000-000000000001", 1)));
  // What a driver throws when the database is away (UNAVAILABLE on the wire): retried.
  assert.ok(!isRefusal(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })));
  assert.ok(!isRefusal(Object.assign(new Error("terminating connection"), { code: "57P01" })));
});
