import assert from "node:assert/strict";
import type { ClaimedRow } from "../store/queue.ts";
import { Dispatcher, type PollSpec } from "./dispatch.ts";

const spec = (workerId: string, types = ["t"], versions = [""], limit = 5): PollSpec => ({
  namespaceId: "ns",
  workerId,
  types,
  versions,
  limit,
  received: performance.now(),
});

const row = (id: string) => ({ run_id: id, workflow_type: "t", version: "" }) as ClaimedRow;

/** Opens a poll and starts its wait (as PollTask does after an empty claim). */
function waiting(d: Dispatcher, s: PollSpec, ms = 10_000) {
  const poll = d.open(s);
  const abort = new AbortController();
  const outcome = poll.wait(ms, abort.signal);
  return { poll, abort, outcome };
}

Deno.test("a reserved poll is answered with the runs handed to it, once", async () => {
  const d = new Dispatcher(30_000);
  const w = waiting(d, spec("a"));
  const p = d.reserve("ns", "t");
  assert.equal(p, w.poll);
  const q = d.reserve("ns", "t");
  assert.equal(q, w.poll, "room for more than one task");
  p!.hand(row("r1"));
  q!.hand(row("r2"));
  assert.deepEqual(p!.settle(), []);
  const o = await w.outcome;
  assert.equal(o.kind, "tasks");
  assert.deepEqual(o.kind === "tasks" && o.rows.map((r) => r.run_id), ["r1", "r2"]);
  assert.ok(o.kind === "tasks" && o.expiresIn >= 30_000);
});

Deno.test("no reservation for a poll of another type, namespace, or without room", () => {
  const d = new Dispatcher(30_000);
  waiting(d, spec("a", ["other"]));
  assert.equal(d.reserve("ns", "t"), undefined);
  assert.equal(d.reserve("elsewhere", "other"), undefined);
  const full = waiting(d, spec("b", ["t"], [""], 1));
  assert.equal(d.reserve("ns", "t"), full.poll);
  assert.equal(d.reserve("ns", "t"), undefined, "its only slot is reserved");
  // A poll claiming (not waiting) is never reserved.
  d.open(spec("c"));
  assert.equal(d.reserve("ns", "t"), undefined);
});

Deno.test("a poll whose caller hung up while reserved gives its runs back", async () => {
  const d = new Dispatcher(30_000);
  const w = waiting(d, spec("a"));
  const p = d.reserve("ns", "t")!;
  w.abort.abort();
  p.hand(row("r1"));
  assert.deepEqual(p.settle().map((r) => r.run_id), ["r1"], "to be put back in the queue");
  assert.equal((await w.outcome).kind, "aborted");
});

Deno.test("a poll timing out while reserved still gets its run; a cancelled one times out", async () => {
  const d = new Dispatcher(30_000);
  const w = waiting(d, spec("a"), 1);
  const p = d.reserve("ns", "t")!;
  await new Promise((r) => setTimeout(r, 20));
  p.hand(row("r1"));
  assert.deepEqual(p.settle(), []);
  assert.equal((await w.outcome).kind, "tasks");

  const w2 = waiting(d, spec("b"), 1);
  const p2 = d.reserve("ns", "t")!;
  await new Promise((r) => setTimeout(r, 20));
  p2.cancel();
  p2.settle();
  assert.equal((await w2.outcome).kind, "timeout");
});

Deno.test("a due run wakes one idle poll, the next one another", async () => {
  const d = new Dispatcher(30_000);
  const polls = [waiting(d, spec("a")), waiting(d, spec("b")), waiting(d, spec("c"))];
  const woken: string[] = [];
  for (const w of polls) {
    w.outcome.then((o) => o.kind === "woken" && woken.push(w.poll.spec.workerId));
  }
  d.wakeOne("ns", "t");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(woken.length, 1);
  d.wakeOne("ns", "t");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(woken.length, 2);
  assert.notEqual(woken[0], woken[1]);
  // Another type's run wakes nobody here.
  d.wakeOne("ns", "other");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(woken.length, 2);
  for (const w of polls) w.abort.abort();
});

Deno.test("a run due while polls are claiming or reserved makes them look again", async () => {
  const d = new Dispatcher(30_000);
  const claiming = d.open(spec("a"));
  d.wakeOne("ns", "t");
  assert.equal(claiming.recheck, true);
  // Its wait then returns at once, to claim again.
  assert.equal((await claiming.wait(10_000, new AbortController().signal)).kind, "woken");

  const w = waiting(d, spec("b"));
  const p = d.reserve("ns", "t")!;
  d.wakeOne("ns", "t");
  p.cancel();
  p.settle();
  assert.equal((await w.outcome).kind, "woken", "the cancelled reservation does not hide the run");
});

Deno.test("a worker skips the claim query only while nothing became due since its last one", () => {
  const d = new Dispatcher(30_000);
  const first = d.mustClaim("ns", "w");
  assert.equal(first.must, true, "a first poll claims");
  d.claimed("ns", "w", first.seq, false);
  assert.equal(d.mustClaim("ns", "w").must, false);
  assert.equal(d.mustClaim("ns", "other").must, true, "per worker");
  d.wakeOne("ns", "t");
  const again = d.mustClaim("ns", "w");
  assert.equal(again.must, true, "a run became due");
  // A claim that found as many as it asked for may have left more behind.
  d.claimed("ns", "w", again.seq, true);
  assert.equal(d.mustClaim("ns", "w").must, true);
  const third = d.mustClaim("ns", "w");
  d.claimed("ns", "w", third.seq, false);
  d.wakeAll("ns");
  assert.equal(d.mustClaim("ns", "w").must, true, "periodic and remote wake-ups count");
  // Work that became due while the claim query ran is not skipped.
  const during = d.mustClaim("ns", "w");
  d.wakeOne("ns", "t");
  d.claimed("ns", "w", during.seq, false);
  assert.equal(d.mustClaim("ns", "w").must, true);
});
