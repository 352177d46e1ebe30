import assert from "node:assert/strict";
import { type CronError, dueTimes, parseCron } from "./cron.ts";

const at = (iso: string) => new Date(iso);

Deno.test("parseCron() fires at the right instants across the Europe/Berlin DST transitions", () => {
  const daily = parseCron("30 2 * * *", "Europe/Berlin");
  // Winter (UTC+1): 02:30 local is 01:30Z.
  assert.deepEqual(daily.next(at("2026-03-27T12:00:00Z")), at("2026-03-28T01:30:00Z"));
  // 2026-03-29 02:30 does not exist (clocks jump 02:00 → 03:00): it fires at 03:00 local.
  assert.deepEqual(daily.next(at("2026-03-28T12:00:00Z")), at("2026-03-29T01:00:00Z"));
  // Summer (UTC+2): 02:30 local is 00:30Z.
  assert.deepEqual(daily.next(at("2026-03-29T12:00:00Z")), at("2026-03-30T00:30:00Z"));
  // 2026-10-25 02:30 happens twice (03:00 → 02:00): it fires once.
  const autumn = [daily.next(at("2026-10-24T12:00:00Z"))!];
  autumn.push(daily.next(autumn[0])!);
  assert.deepEqual(autumn[0], at("2026-10-25T00:30:00Z"));
  assert.deepEqual(autumn[1], at("2026-10-26T01:30:00Z"));
  const hourly = parseCron("0 * * * *", "Europe/Berlin");
  // Across the spring jump an hour is simply missing; each remaining hour fires once.
  const hours: string[] = [];
  let t = at("2026-03-28T22:30:00Z");
  for (let i = 0; i < 4; i++) hours.push((t = hourly.next(t)!).toISOString());
  assert.deepEqual(hours, [
    "2026-03-28T23:00:00.000Z",
    "2026-03-29T00:00:00.000Z",
    "2026-03-29T01:00:00.000Z",
    "2026-03-29T02:00:00.000Z",
  ]);
});

Deno.test("parseCron() reads seconds fields and macros", () => {
  assert.deepEqual(
    parseCron("*/10 * * * * *", "").next(at("2026-01-01T00:00:01Z")),
    at("2026-01-01T00:00:10Z"),
  );
  assert.deepEqual(
    parseCron("@hourly", "").next(at("2026-01-01T00:30:00Z")),
    at("2026-01-01T01:00:00Z"),
  );
  assert.deepEqual(
    parseCron("@daily", "").next(at("2026-01-01T00:30:00Z")),
    at("2026-01-02T00:00:00Z"),
  );
});

Deno.test("parseCron() names the cron expression or time zone it refuses", () => {
  assert.throws(
    () => parseCron("61 * * * *", ""),
    (e: CronError) => e.field === "cron" && /"61 \* \* \* \*"/.test(e.message),
  );
  assert.throws(() => parseCron("every day", ""), (e: CronError) => e.field === "cron");
  assert.throws(
    () => parseCron("* * * * *", "Mars/Olympus"),
    (e: CronError) => e.field === "timezone" && /Mars\/Olympus/.test(e.message),
  );
});

Deno.test("dueTimes() keeps the most recent missed times, oldest first, and the next one", () => {
  const s = parseCron("* * * * * *", "");
  const { due, next } = dueTimes(s, at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:09.500Z"), 3);
  assert.deepEqual(due.map((d) => d.toISOString()), [
    "2026-01-01T00:00:07.000Z",
    "2026-01-01T00:00:08.000Z",
    "2026-01-01T00:00:09.000Z",
  ]);
  assert.deepEqual(next, at("2026-01-01T00:00:10Z"));
  assert.equal(
    dueTimes(s, at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:09Z"), 0).due.length,
    0,
  );
});
