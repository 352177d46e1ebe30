/**
 * Tokens on both backends with a real server process that requires API keys: a token completed
 * by a plain HTTP POST to its URL (no key) resumes the run; forged, replayed and expired
 * completions change nothing; client.completeToken / failToken; the CLI. Rotation:
 * `token_rotation_test.ts`.
 */
import assert from "node:assert/strict";
import {
  type Context,
  Kagzi,
  type KagziError,
  TokenFailedError,
  TokenTimeoutError,
  Worker,
  type WorkflowFn,
} from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { expect, kagzi } from "./_cli.ts";
import { post, suspended, tokenOf } from "./_tokens.ts";

const key = "kagzi-tokens-test-key-0123456789";
const fast = ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200"];

const flows: Record<string, WorkflowFn> = {
  // The API.md example, with a step standing in for the e-mail.
  "approval": async (ctx: Context) => {
    const t = await ctx.token<{ approved: boolean }>("manager-approval", { timeout: "3 days" });
    await ctx.step("notify").run(() => ({ id: t.id, url: t.url }));
    const decision = await t.wait();
    return { decision, id: t.id, url: t.url };
  },
  // Stays open after the token's wait, so a second completion meets the token, not an ended run.
  "approval-held": async (ctx: Context) => {
    const t = await ctx.token("manager-approval");
    const decision = await t.wait();
    await ctx.waitForSignal("finish");
    return decision;
  },
  "expiring": async (ctx: Context) => {
    const t = await ctx.token("quick", { timeout: "1s" });
    try {
      return { value: await t.wait(), id: t.id };
    } catch (err) {
      return { timeout: err instanceof TokenTimeoutError, id: t.id };
    }
  },
  "failing": async (ctx: Context) => {
    const t = await ctx.token("review");
    try {
      return await t.wait();
    } catch (err) {
      return err instanceof TokenFailedError ? `failed: ${err.reason}` : String(err);
    }
  },
};

const code = (c: string) => (e: KagziError) => e.code === c;

for (const backend of await backends()) {
  Deno.test(`tokens on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: fast,
      env: { KAGZI_API_KEYS: key },
    });
    const client = await Kagzi.connect(server.url, { apiKey: key });
    const worker = await Worker.builder(server.url).apiKey(key).workflows(flows).build();
    const running = worker.run();
    try {
      await t.step("a plain HTTP POST to t.url, with no API key, resumes the run", async () => {
        const run = await client.start("approval");
        const token = await tokenOf(client, run.id, "manager-approval");
        assert.equal(token.status, "PENDING");
        assert.match(
          token.url,
          new RegExp(`^${server.url}/v1/tokens/default/${token.id}\\?sig=\\d+\\.`),
        );
        await suspended(client, run.id);
        // The server refuses every RPC without a key; the URL is its own credential.
        const plain = await Kagzi.connect(server.url).catch((e) => e as KagziError);
        assert.equal((plain as KagziError).code, "UNAUTHORIZED");
        const res = await post(token.url, JSON.stringify({ approved: true }));
        assert.equal(res.status, 200, await res.clone().text());
        assert.deepEqual(await res.json(), {
          tokenId: token.id,
          runId: run.id,
          status: "COMPLETED",
        });
        const out = await run.result({ timeout: "60s" }) as {
          decision: unknown;
          id: string;
          url: string;
        };
        assert.deepEqual(out.decision, { approved: true });
        // The replay after the wait handed the code the same token.
        assert.equal(out.id, token.id);
        assert.equal(out.url, token.url);
        const [after] = await client.listTokens(run.id);
        assert.equal(after.status, "COMPLETED");
        assert.deepEqual(after.value, { approved: true });

        // After the run ended: 409, nothing changes.
        const late = await post(token.url, JSON.stringify({ approved: false }));
        assert.equal(late.status, 409);
        await late.body?.cancel();
        assert.deepEqual((await client.listTokens(run.id))[0].value, { approved: true });
      });

      await t.step(
        "a replayed POST to a completed token is 409 and keeps the first value",
        async () => {
          const run = await client.start("approval-held");
          const token = await tokenOf(client, run.id, "manager-approval");
          const first = await post(token.url, JSON.stringify({ n: 1 }));
          assert.equal(first.status, 200);
          await first.body?.cancel();
          for (const body of [JSON.stringify({ n: 1 }), JSON.stringify({ n: 2 })]) {
            const again = await post(token.url, body);
            assert.equal(again.status, 409);
            const err = await again.json();
            assert.equal(err.code, "failed_precondition");
            assert.match(err.message, /already completed/);
          }
          await assert.rejects(
            client.completeToken(token.id, { n: 3 }),
            (e: KagziError) =>
              e.code === "PRECONDITION_FAILED" && /already completed/.test(e.message),
          );
          await assert.rejects(client.failToken(token.id, "late"), code("PRECONDITION_FAILED"));
          await run.signal("finish");
          assert.deepEqual(await run.result({ timeout: "60s" }), { n: 1 });
          assert.deepEqual((await client.listTokens(run.id))[0].value, { n: 1 });
        },
      );

      await t.step("forged signatures are 401 and change nothing", async () => {
        const run = await client.start("approval");
        const token = await tokenOf(client, run.id, "manager-approval");
        const url = new URL(token.url);
        const sig = url.searchParams.get("sig")!;
        const [id, mac] = sig.split(".");
        const forgeries = [
          // another MAC
          `${url.origin}${url.pathname}?sig=${id}.${mac.slice(0, -2)}${
            mac.endsWith("AA") ? "BB" : "AA"
          }`,
          // no signature
          `${url.origin}${url.pathname}`,
          // a secret that does not exist
          `${url.origin}${url.pathname}?sig=999.${mac}`,
          // the right signature on another token id
          `${url.origin}/v1/tokens/default/${crypto.randomUUID()}?sig=${sig}`,
          // the right signature in another namespace
          `${url.origin}/v1/tokens/other/${token.id}?sig=${sig}`,
        ];
        for (const f of forgeries) {
          const res = await post(f, "true");
          assert.equal(res.status, 401, f);
          assert.equal((await res.json()).code, "unauthenticated");
        }
        // Not JSON with a good signature: 400, nothing stored.
        const bad = await post(token.url, "{nope");
        assert.equal(bad.status, 400);
        await bad.body?.cancel();
        assert.equal((await client.listTokens(run.id))[0].status, "PENDING");
        // Still waiting: the worker stores the suspension soon after the token it waits on (a
        // forgery that got through would have ended the run instead).
        await waitFor("the run suspended on its token", async () => {
          const { status } = await client.get(run.id);
          assert.ok(status === "RUNNING" || status === "SLEEPING", status);
          return status === "SLEEPING";
        });
        // The genuine URL still works after all of that.
        assert.equal((await post(token.url, JSON.stringify({ approved: false }))).status, 200);
        assert.deepEqual(
          ((await run.result({ timeout: "60s" })) as { decision: unknown }).decision,
          { approved: false },
        );
      });

      await t.step(
        "an expired token takes no completion; wait() rejected with TokenTimeoutError",
        async () => {
          const run = await client.start("expiring");
          const out = await run.result({ timeout: "60s" }) as { timeout: boolean; id: string };
          assert.equal(out.timeout, true);
          const [token] = await client.listTokens(run.id);
          assert.equal(token.status, "EXPIRED");
          await assert.rejects(client.completeToken(token.id, 1), code("PRECONDITION_FAILED"));
          const res = await post(token.url, "1");
          assert.equal(res.status, 409);
          assert.match((await res.json()).message, /expired/);
          assert.equal((await client.listTokens(run.id))[0].status, "EXPIRED");
        },
      );

      await t.step("client.completeToken and client.failToken settle once", async () => {
        const ok = await client.start("approval");
        const t1 = await tokenOf(client, ok.id, "manager-approval");
        const done = await client.completeToken(t1.id, { approved: true });
        assert.equal(done.status, "COMPLETED");
        await assert.rejects(
          client.completeToken(t1.id, { approved: false }),
          code("PRECONDITION_FAILED"),
        );
        await assert.rejects(client.failToken(t1.id, "late"), code("PRECONDITION_FAILED"));
        assert.deepEqual(
          ((await ok.result({ timeout: "60s" })) as { decision: unknown }).decision,
          {
            approved: true,
          },
        );

        const no = await client.start("failing");
        const t2 = await tokenOf(client, no.id, "review");
        await client.failToken(t2.id, "denied");
        assert.equal(await no.result({ timeout: "60s" }), "failed: denied");
        assert.equal((await client.listTokens(no.id))[0].status, "FAILED");

        await assert.rejects(client.completeToken(crypto.randomUUID(), 1), code("NOT_FOUND"));
        await assert.rejects(client.completeToken("not-a-uuid", 1), code("INVALID_ARGUMENT"));
        await assert.rejects(
          client.completeToken(t2.id, 1, { namespace: "elsewhere" }),
          code("NOT_FOUND"),
        );
      });

      await t.step("kagzi token list / complete / fail", async () => {
        const env = { KAGZI_ADDRESS: server.url, KAGZI_API_KEY: key };
        const run = await client.start("approval");
        const token = await tokenOf(client, run.id, "manager-approval");
        const listed = expect(await kagzi(["token", "list", run.id], env), 0, "token list").json();
        assert.deepEqual(listed.map((x: { id: string; status: string }) => [x.id, x.status]), [
          [token.id, "PENDING"],
        ]);
        const done = await kagzi(
          ["token", "complete", token.id, "--value", '{"approved":true}'],
          env,
        );
        assert.equal(expect(done, 0, "token complete").json().status, "COMPLETED");
        expect(await kagzi(["token", "complete", token.id, "--value", "1"], env), 3, "again");
        expect(await kagzi(["token", "fail", token.id, "--reason", "no"], env), 3, "fail after");
        assert.deepEqual(
          ((await run.result({ timeout: "60s" })) as { decision: unknown }).decision,
          {
            approved: true,
          },
        );
        const other = await client.start("failing");
        const t2 = await tokenOf(client, other.id, "review");
        expect(await kagzi(["token", "fail", t2.id, "--reason", "nope"], env), 0, "token fail");
        assert.equal(await other.result({ timeout: "60s" }), "failed: nope");
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}

Deno.test("token URLs start with --public-url; a proxy forwarding the path completes them", async () => {
  const backend = (await backends()).at(-1)!;
  await using server = await startTestServer(backend, {
    args: [...fast, "--public-url", "https://kagzi.example.com/api/"],
  });
  const client = await Kagzi.connect(server.url);
  const worker = await Worker.builder(server.url).workflows(flows).build();
  const running = worker.run();
  try {
    const run = await client.start("approval");
    const token = await tokenOf(client, run.id, "manager-approval");
    const prefix = `https://kagzi.example.com/api/v1/tokens/default/${token.id}?sig=`;
    assert.ok(token.url.startsWith(prefix), token.url);
    // What a proxy mapping https://kagzi.example.com/api/ to the server would send on.
    const res = await post(
      `${server.url}${token.url.slice("https://kagzi.example.com/api".length)}`,
      "true",
    );
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const out = await run.result({ timeout: "60s" }) as { decision: unknown; url: string };
    assert.equal(out.decision, true);
    assert.equal(out.url, token.url);
  } finally {
    await worker.shutdown();
    await running;
  }
});
