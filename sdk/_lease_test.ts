import assert from "node:assert/strict";
import { Leases, now } from "./_lease.ts";

const lease = { runId: "r1", fence: 1n };

Deno.test("Leases.hold() is true at once while more than the margin is left", () => {
  let beats = 0;
  const leases = new Leases(() => Promise.resolve(++beats > 0), 1_000);
  leases.set(lease, now(), 1_000);
  assert.equal(leases.hold(lease), true);
  assert.equal(beats, 0);
});

Deno.test("Leases.hold() counts the lease from when the request was sent", async () => {
  const leases = new Leases(() => Promise.resolve(true), 1_000);
  const sent = now();
  leases.set(lease, { mono: sent.mono - 900, wall: sent.wall - 900 }, 1_000);
  assert.ok(leases.remaining(lease)! <= 100);
  // Near expiry and no heartbeat extends it: it gives up after one lease duration.
  assert.equal(await leases.hold(lease), false);
});

Deno.test("Leases.hold() waits for a heartbeat that extends a lease near expiry", async () => {
  let beats = 0;
  const leases: Leases = new Leases(() => {
    beats++;
    leases.extend(lease, now(), 1_000);
    return Promise.resolve(true);
  }, 1_000);
  leases.set(lease, now(), 100);
  assert.equal(await leases.hold(lease), true);
  assert.equal(beats, 1);
  assert.ok(leases.remaining(lease)! > 900);
});

Deno.test("Leases.hold() is false once a heartbeat drops the lease as lost", async () => {
  const leases: Leases = new Leases(() => {
    leases.drop(lease);
    return Promise.resolve(true);
  }, 1_000);
  leases.set(lease, now(), 0);
  assert.equal(await leases.hold(lease), false);
  assert.equal(leases.remaining(lease), undefined);
});

Deno.test("Leases.hold() keeps trying while heartbeats fail, then gives up", async () => {
  let beats = 0;
  const leases = new Leases(() => Promise.resolve(++beats < 0), 300);
  leases.set(lease, now(), 0);
  const t = performance.now();
  assert.equal(await leases.hold(lease), false);
  assert.ok(beats >= 2, `${beats} heartbeats`);
  assert.ok(performance.now() - t < 2_000);
});

Deno.test("Leases.beat() shares one heartbeat among concurrent callers", async () => {
  let beats = 0;
  let finish!: (ok: boolean) => void;
  const leases = new Leases(() => {
    beats++;
    return new Promise<boolean>((r) => (finish = r));
  }, 1_000);
  const both = Promise.all([leases.beat(), leases.beat()]);
  finish(true);
  assert.deepEqual(await both, [true, true]);
  assert.equal(beats, 1);
});

Deno.test("Leases: a lease of an older claim of the same run is a different lease", () => {
  const leases = new Leases(() => Promise.resolve(true), 1_000);
  leases.set({ runId: "r1", fence: 2n }, now(), 1_000);
  assert.equal(leases.remaining(lease), undefined);
  assert.equal(leases.hold({ runId: "r1", fence: 2n }), true);
});
