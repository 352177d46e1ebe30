/** The run statuses and their open / ended helpers, shared by the CLI and the dashboard. */
import assert from "node:assert/strict";
import { isEnded, isOpen, WORKFLOW_STATUSES } from "./types.ts";

Deno.test("WORKFLOW_STATUSES lists every status once, open ones first; isOpen and isEnded split them", () => {
  assert.deepEqual(WORKFLOW_STATUSES, [
    "PENDING",
    "RUNNING",
    "SLEEPING",
    "PARKED",
    "PAUSED",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
  ]);
  assert.deepEqual(WORKFLOW_STATUSES.filter(isOpen), [
    "PENDING",
    "RUNNING",
    "SLEEPING",
    "PARKED",
    "PAUSED",
  ]);
  assert.deepEqual(WORKFLOW_STATUSES.filter(isEnded), ["COMPLETED", "FAILED", "CANCELLED"]);
  assert.equal(isOpen("pending"), false, "a status is upper-case");
  assert.equal(isOpen(""), false);
  assert.throws(() => (WORKFLOW_STATUSES as string[]).push("LOST"), TypeError);
});
