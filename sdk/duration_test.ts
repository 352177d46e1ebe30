import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";
import type { KagziError } from "./errors.ts";

Deno.test("parseDuration() reads units, combinations and plain milliseconds", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m 30s"), 330_000);
  assert.equal(parseDuration("1h 30m"), 5_400_000);
  assert.equal(parseDuration("1 day"), 86_400_000);
  assert.equal(parseDuration("2 weeks"), 1_209_600_000);
  assert.equal(parseDuration("1.5s"), 1_500);
  assert.equal(parseDuration(250), 250);
  assert.equal(parseDuration("250"), 250);
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration() rejects anything else with INVALID_ARGUMENT naming the text", () => {
  for (const bad of ["", "soon", "5 parsecs", "-1s", "1h and", "s"]) {
    assert.throws(() => parseDuration(bad), (e: KagziError) => {
      assert.equal(e.code, "INVALID_ARGUMENT");
      assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
      return true;
    });
  }
  assert.throws(() => parseDuration(-5), /non-negative/);
  assert.throws(() => parseDuration(NaN), /non-negative/);
  // Longer than any time from now can be (was an internal BigInt error where it became a Date).
  for (const huge of [1e20, "99999999999999999999", "365251 days"]) {
    assert.throws(() => parseDuration(huge, "timeout"), (e: KagziError) => {
      assert.equal(e.code, "INVALID_ARGUMENT");
      assert.equal(e.subject, "timeout");
      assert.match(e.message, /more than 1000 years/);
      return true;
    });
  }
  assert.equal(parseDuration("365250 days"), 365_250 * 86_400_000);
});
