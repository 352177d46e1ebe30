import assert from "node:assert/strict";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { KagziError } from "./errors.ts";
import { checkDate, timestampOf } from "./_timestamp.ts";

Deno.test("timestampOf converts a valid Date exactly", () => {
  const d = new Date("2026-12-04T10:11:12.345Z");
  assert.equal(timestampDate(timestampOf(d, "deadline", "Cannot start")).getTime(), d.getTime());
});

Deno.test("checkDate refuses what is not a valid Date as INVALID_ARGUMENT naming the field", () => {
  const cases: [unknown, string][] = [
    [new Date("nope"), "an invalid Date"],
    ["2026-01-01", 'the string "2026-01-01"'],
    [1_700_000_000_000, "the number 1700000000000"],
    [undefined, "undefined"],
    [null, "null"],
    [{}, "a value of type object"],
  ];
  for (const [value, named] of cases) {
    assert.throws(
      () => checkDate(value, "since", "Cannot start a bulk cancel"),
      (e: KagziError) => {
        assert.ok(e instanceof KagziError);
        assert.equal(e.code, "INVALID_ARGUMENT");
        assert.equal(e.subject, "since");
        assert.equal(e.nonRetryable, true);
        assert.equal(
          e.message,
          `Cannot start a bulk cancel: "since" must be a valid Date, not ${named}`,
        );
        return true;
      },
    );
  }
});
