/**
 * ctx.any on both backends with real server and worker processes: a signal racing a sleep in
 * both orders, with the worker kill -9'd between the win and the next step (the replay returns
 * the recorded winner); a signal no branch took stays for a later waitForSignal; tokens and
 * children as branches; what ctx.any refuses.
 */
import assert from "node:assert/strict";
import {
  type Context,
  Kagzi,
  type KagziError,
  Retry,
  TokenTimeoutError,
  Worker,
  type WorkflowFn,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer, type TestServer } from "./_server.ts";
import { leaseFlags, readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";

/** Waits until the run is suspended on its wait for any. */
async function racing(client: Kagzi, runId: string) {
  await waitFor(`run ${runId} waiting for any`, async () => {
    const w = await client.get(runId);
    return w.status === "SLEEPING" && w.waits.some((x) => x.kind === "any");
  });
}

/** Starts "any-race", kills its worker -9 inside the step after the win, finishes on another. */
async function raceWithKill(
  server: TestServer,
  sleep: string,
  beforeWin: (client: Kagzi, runId: string) => Promise<void>,
  afterKill: (client: Kagzi, runId: string) => Promise<void>,
) {
  await using journal = await tempJournal();
  const holdFile = await Deno.makeTempFile({ prefix: "kagzi_hold_" });
  const client = await Kagzi.connect(server.url);
  const first = await startWorker(server.url, { types: ["any-race"], journal: journal.path });
  const run = await client.start("any-race").input({ sleep, holdFile });
  await beforeWin(client, run.id);
  await waitFor(
    "the step after the win",
    () => readJournal(journal.path).some((e) => e.run === run.id && e.step.startsWith("after:")),
  );
  first.kill("SIGKILL");
  await first.status;
  await Deno.remove(holdFile);
  await afterKill(client, run.id);
  await using second = await startWorker(server.url, {
    types: ["any-race"],
    journal: journal.path,
  });
  const out = await run.result({ timeout: "90s" });
  const entries = readJournal(journal.path).filter((e) => e.run === run.id);
  return { out, entries, pids: [first.pid, second.pid], run };
}

let declined = true; // what fails step "charge" of "rerun-after" until the rerun

const flows: Record<string, WorkflowFn> = {
  // A token and a race recorded before a step that fails: a rerun from that step keeps both.
  "rerun-after": async (ctx: Context) => {
    const t = await ctx.token<number>("t");
    const v = await t.wait();
    const first = await ctx.any({ ok: ctx.waitForSignal("go"), late: ctx.sleep("d", "1h") });
    const charged = await ctx.step("charge").retry(Retry.none()).run(() => {
      if (declined) throw new Error("declined");
      return "charged";
    });
    return { v, first, charged, tokenId: t.id };
  },
  "child-quick": (ctx: Context, n: number) => ctx.step("double").run(() => n * 2),
  "any-child": async (ctx: Context) =>
    await ctx.any({
      c: ctx.child("c").run<number>("child-quick", 21),
      late: ctx.sleep("deadline", "1h"),
    }),
  "any-token-timeout": async (ctx: Context) => {
    const t = await ctx.token("quick", { timeout: "300ms" });
    try {
      return await ctx.any({ no: t.wait(), late: ctx.sleep("deadline", "1h") });
    } catch (err) {
      return err instanceof TokenTimeoutError ? "token timed out first" : String(err);
    }
  },
  "any-refused": async (ctx: Context) => {
    const awaited = ctx.waitForSignal("x", { timeout: "1ms" });
    await awaited.catch(() => {});
    const problems: string[] = [];
    const tries: Record<string, PromiseLike<unknown>>[] = [{ p: Promise.resolve(1) }, {
      a: awaited,
    }, {}];
    for (const branches of tries) {
      await ctx.any(branches).catch((e: KagziError) => problems.push(e.code));
    }
    return problems;
  },
};

for (const backend of await backends()) {
  Deno.test(`ctx.any: a signal beats a sleep; kill -9 after the win; the replay keeps it (${backend})`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    const { out, entries, pids, run } = await raceWithKill(
      server,
      "1h",
      async (client, runId) => {
        await racing(client, runId);
        await client.signal(runId, "approve", 1);
      },
      // Sent after the win: the race took one signal; this one stays in the mailbox.
      async (client, runId) => void await client.signal(runId, "approve", 2),
    );
    assert.deepEqual(out, { first: { key: "ok", value: 1 } });
    assert.deepEqual(entries.map((e) => [e.step, e.pid]), [["after:ok", pids[0]], [
      "after:ok",
      pids[1],
    ]]);
    const signals = await run.listSignals();
    assert.deepEqual(signals.map((s) => [s.payload, !!s.consumedAt]), [[1, true], [2, false]]);
  });

  Deno.test(`ctx.any: a sleep beats a signal; kill -9 after the win; a late signal goes to the next wait (${backend})`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    const { out, entries, pids, run } = await raceWithKill(
      server,
      "1s",
      async () => {},
      // The sleep won before this signal was sent: the race does not take it, the wait after does.
      async (client, runId) => void await client.signal(runId, "approve", 7),
    );
    assert.deepEqual(out, { first: { key: "late" }, later: 7 });
    assert.deepEqual(entries.map((e) => [e.step, e.pid]), [["after:late", pids[0]], [
      "after:late",
      pids[1],
    ]]);
    assert.deepEqual((await run.listSignals()).map((s) => [s.payload, !!s.consumedAt]), [[
      7,
      true,
    ]]);
  });

  Deno.test(`ctx.any over a child and a token that times out; a rerun keeps a token and a race; what ctx.any refuses (${backend})`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2_000) });
    const worker = await Worker.builder(server.url).workflows(flows).build();
    const running = worker.run();
    try {
      const client = await Kagzi.connect(server.url);
      const child = await client.start("any-child");
      assert.deepEqual(await child.result({ timeout: "60s" }), { key: "c", value: 42 });
      const timedOut = await client.start("any-token-timeout");
      assert.equal(await timedOut.result({ timeout: "60s" }), "token timed out first");
      declined = true;
      const before = await client.start("rerun-after");
      await waitFor("the token", async () => (await client.listTokens(before.id)).length === 1);
      const [tok] = await client.listTokens(before.id);
      await client.completeToken(tok.id, 5);
      await before.signal("go", "yes");
      await assert.rejects(before.result({ timeout: "60s" }), /declined/);
      declined = false;
      const rerun = await client.rerun(before.id, { fromStep: "charge" });
      const out = await rerun.result({ timeout: "60s" }) as { tokenId: string };
      assert.deepEqual({ ...out, tokenId: "" }, {
        v: 5,
        first: { key: "ok", value: "yes" },
        charged: "charged",
        tokenId: "",
      });
      // The new run's token is its own (settled, with the copied value), not the old id.
      assert.ok(out.tokenId && out.tokenId !== tok.id);
      assert.deepEqual((await client.listTokens(rerun.id)).map((x) => [x.status, x.value]), [
        ["COMPLETED", 5],
      ]);
      const refused = await client.start("any-refused");
      assert.deepEqual(await refused.result({ timeout: "60s" }), [
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
      ]);
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}
