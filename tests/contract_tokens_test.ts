/**
 * The token and ctx.any lines of `../shared/API.md` "Streams, tokens and hooks", run as written
 * (one real server process, one worker in this process): a token whose URL goes out in a step,
 * `t.wait()`, `client.completeToken` / `client.failToken`, a POST to `t.url`, and
 * `ctx.any({ ok: signal, no: token, late: sleep })` won by each of its three branches.
 */
import assert from "node:assert/strict";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

const manager = "manager@example.com";
const sent: { to: string; url: string }[] = [];
const sendEmail = (to: string, url: string) => void sent.push({ to, url });

async function approval(ctx: Context) {
  const t = await ctx.token<{ approved: boolean }>("manager-approval", { timeout: "3 days" });
  await ctx.step("notify").run(() => sendEmail(manager, t.url)); // t.id, and t.url: a signed callback URL
  const decision = await t.wait(); // TokenTimeoutError after the timeout
  return decision;
}

async function firstOf(ctx: Context, input: { deadline: string }) {
  const t = await ctx.token<{ approved: boolean }>("manager-approval", { timeout: "3 days" });
  await ctx.step("notify").run(() => sendEmail(manager, t.url));
  // wait for whichever comes first; the winner is recorded and replayed
  const first = await ctx.any({
    ok: ctx.waitForSignal("approve"),
    no: t.wait(),
    late: ctx.sleep("deadline", input.deadline),
  });
  // first: { key: "ok", value } | { key: "no", value } | { key: "late" }
  return first;
}

Deno.test("API.md's token and ctx.any lines run as written (embedded)", async () => {
  await using server = await startTestServer("embedded");
  const client = await Kagzi.connect(server.url);
  const worker = await Worker.builder(server.url)
    .workflows({ approval, "first-of": firstOf })
    .build();
  const running = worker.run();
  const tokenOf = async (runId: string) => {
    await waitFor("the token", async () => (await client.listTokens(runId)).length === 1);
    return (await client.listTokens(runId))[0].id;
  };
  try {
    // client.completeToken(tokenId, { approved: true })
    const a = await client.start("approval");
    let tokenId = await tokenOf(a.id);
    await client.completeToken(tokenId, { approved: true }); // or client.failToken(tokenId, "denied")
    assert.deepEqual(await a.result({ timeout: "30s" }), { approved: true });
    assert.ok(sent.some((m) => m.to === manager && m.url.includes(tokenId)));

    // or client.failToken(tokenId, "denied")
    const b = await client.start("approval");
    tokenId = await tokenOf(b.id);
    await client.failToken(tokenId, "denied");
    await assert.rejects(b.result({ timeout: "30s" }), /denied/);

    // POST t.url with a JSON body completes it without an API key
    const c = await client.start("approval");
    tokenId = await tokenOf(c.id);
    const url = sent.find((m) => m.url.includes(tokenId))!.url;
    const res = await fetch(url, { method: "POST", body: JSON.stringify({ approved: false }) });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.deepEqual(await c.result({ timeout: "30s" }), { approved: false });

    // ctx.any: each branch wins once
    const ok = await client.start("first-of").input({ deadline: "1d" });
    await tokenOf(ok.id);
    await ok.signal("approve", { by: "ana" });
    assert.deepEqual(await ok.result({ timeout: "30s" }), { key: "ok", value: { by: "ana" } });

    const no = await client.start("first-of").input({ deadline: "1d" });
    await client.completeToken(await tokenOf(no.id), { approved: true });
    assert.deepEqual(await no.result({ timeout: "30s" }), { key: "no", value: { approved: true } });

    const late = await client.start("first-of").input({ deadline: "500ms" });
    assert.deepEqual(await late.result({ timeout: "30s" }), { key: "late" });
  } finally {
    await worker.shutdown();
    await running;
  }
});
