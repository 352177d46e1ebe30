/**
 * Rotating the secret token URLs are signed with, on real server processes: a plain rotation
 * keeps older URLs valid; one with `retireOlder` makes them 401 (changing nothing) while the URL
 * `listTokens` hands out then completes the token; `kagzi token rotate-secret`; and, on Postgres
 * with several replicas on one database, a retire on one makes the others refuse at once — also
 * a completion whose signature was checked before the retire but whose body ended after it —
 * and sign new URLs with the new secret at once.
 */
import assert from "node:assert/strict";
import { Kagzi, type KagziError, Worker, type WorkflowFn } from "@kagzi/sdk";
import { backends, postgresIgnored } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { expect, kagzi } from "./_cli.ts";
import { post, secretOf, suspended, tokenOf } from "./_tokens.ts";

const admin = "kagzi-rotation-test-admin-0123456789";
const scoped = "kagzi-rotation-test-scoped-0123456789";
const fast = ["--heartbeat-interval-ms", "300", "--tick-interval-ms", "200"];
const yes = JSON.stringify({ approved: true });

const flows: Record<string, WorkflowFn> = {
  "approval": async (ctx) => await (await ctx.token("manager-approval")).wait(),
  // The URL the code was handed.
  "link": async (ctx) => (await ctx.token("link")).url,
};

/** Asserts that a POST of `body` to `url` is refused as a forged URL is. */
async function refused(url: string, body: BodyInit = yes) {
  const res = await post(url, body);
  const answer = await res.json();
  assert.equal(res.status, 401, JSON.stringify(answer));
  assert.equal(answer.code, "unauthenticated");
  assert.match(answer.message, /signature \("sig"\) is missing or does not match token/);
}

for (const backend of await backends()) {
  Deno.test(`token secret rotation on ${backend}`, async (t) => {
    await using server = await startTestServer(backend, {
      args: fast,
      env: { KAGZI_API_KEYS: `${admin}=*;${scoped}=default` },
    });
    const client = await Kagzi.connect(server.url, { apiKey: admin });
    const worker = await Worker.builder(server.url).apiKey(admin).workflows(flows).build();
    const running = worker.run();
    try {
      await t.step("a URL signed before a plain rotation still completes", async () => {
        const run = await client.start("approval");
        const before = await tokenOf(client, run.id, "manager-approval");
        const first = await client.rotateTokenSecretDetailed();
        assert.equal(first.retired, 0);
        assert.ok(first.secretId > secretOf(before.url));
        const id = await client.rotateTokenSecret();
        assert.equal(id, first.secretId + 1);
        const run2 = await client.start("approval");
        const after = await tokenOf(client, run2.id, "manager-approval");
        assert.equal(secretOf(after.url), id);
        // The pending token is listed with a URL signed anew; the one handed out before works.
        assert.equal(secretOf((await client.listTokens(run.id))[0].url), id);
        assert.equal((await post(before.url, yes)).status, 200);
        assert.equal((await post(after.url, yes)).status, 200);
        assert.deepEqual(await run.result({ timeout: "60s" }), { approved: true });
        assert.deepEqual(await run2.result({ timeout: "60s" }), { approved: true });
      });

      await t.step(
        "after a rotation with retireOlder an older URL is 401 and changes nothing; " +
          "the URL listTokens returns completes the token",
        async () => {
          const run = await client.start("approval");
          const old = await tokenOf(client, run.id, "manager-approval");
          await suspended(client, run.id);
          const r = await client.rotateTokenSecretDetailed({ retireOlder: true });
          // Secrets 1, 2 and 3 of the step before.
          assert.deepEqual(r, { secretId: 4, retired: 3 });
          // Refused before the body is read, as a forged URL is: a body that is not JSON too.
          await refused(old.url);
          await refused(old.url, "{nope");
          const [now] = await client.listTokens(run.id);
          assert.equal(now.status, "PENDING");
          assert.equal((await client.get(run.id)).status, "SLEEPING");
          assert.equal(secretOf(now.url), 4);
          assert.equal((await post(now.url, yes)).status, 200);
          assert.deepEqual(await run.result({ timeout: "60s" }), { approved: true });
          await refused(old.url);
        },
      );

      await t.step("a retireOlder that is not a boolean is INVALID_ARGUMENT", async () => {
        await assert.rejects(
          client.rotateTokenSecret({ retireOlder: "yes" as unknown as boolean }),
          (e: KagziError) =>
            e.code === "INVALID_ARGUMENT" && e.subject === "retireOlder" &&
            /"retireOlder" is "yes"/.test(e.message),
        );
      });

      await t.step("kagzi token rotate-secret [--retire-older] (admin key)", async () => {
        const env = { KAGZI_ADDRESS: server.url, KAGZI_API_KEY: admin };
        // Nothing rotated by the refused call before: the next id is 5.
        const plain = await kagzi(["token", "rotate-secret"], env);
        assert.deepEqual(expect(plain, 0, "rotate-secret").json(), { secretId: 5, retired: 0 });
        const run = await client.start("approval");
        const old = await tokenOf(client, run.id, "manager-approval");
        assert.equal(secretOf(old.url), 5);
        const table = await kagzi(["token", "rotate-secret", "--retire-older", "-o", "table"], env);
        expect(table, 0, "rotate-secret --retire-older");
        assert.match(table.stdout, /^Secret ID:\s+6$/m);
        assert.match(table.stdout, /^Retired:\s+2$/m);
        await refused(old.url);
        const listed = await kagzi(["token", "list", run.id], env);
        const [url] = expect(listed, 0, "token list").json().map((x: { url: string }) => x.url);
        assert.equal(secretOf(url), 6);
        assert.equal((await post(url, yes)).status, 200);
        assert.deepEqual(await run.result({ timeout: "60s" }), { approved: true });
        // A key scoped to namespaces cannot rotate: the call is server-wide.
        const denied = await kagzi(["token", "rotate-secret", "--retire-older"], {
          ...env,
          KAGZI_API_KEY: scoped,
        });
        expect(denied, 3, "rotate-secret with a scoped key");
        assert.match(denied.stderr, /PERMISSION_DENIED/);
      });
    } finally {
      await worker.shutdown();
      await running;
    }
  });
}

Deno.test({
  name:
    "a retire on one replica makes the others refuse older URLs and sign anew at once (postgres)",
  ignore: await postgresIgnored(),
  async fn() {
    // Four replicas on one database: A rotates; B is completed through; C lists; D serves the
    // worker (and so makes the tokens and their URLs).
    await using a = await startTestServer("postgres", { args: fast });
    const [b, c, d] = [await a.restart(), await a.restart(), await a.restart()];
    const [onA, onB, onC] = await Promise.all([a, b, c].map((s) => Kagzi.connect(s.url)));
    const worker = await Worker.builder(d.url).workflows(flows).build();
    const running = worker.run();
    try {
      // Listed on B and C: each has loaded the secrets it trusts for a minute (D made them).
      const run1 = await onA.start("approval");
      const run2 = await onA.start("approval");
      const tok1 = await tokenOf(onB, run1.id, "manager-approval");
      const tok2 = await tokenOf(onB, run2.id, "manager-approval");
      assert.ok(tok1.url.startsWith(b.url) && tok2.url.startsWith(b.url));
      assert.equal(secretOf((await tokenOf(onC, run1.id, "manager-approval")).url), 1);
      await suspended(onA, run1.id);
      await suspended(onA, run2.id);

      // A completion of run2 whose signature B checks now, its body still arriving.
      const body = new TransformStream<Uint8Array, Uint8Array>();
      const writer = body.writable.getWriter();
      const slow = post(tok2.url, body.readable);
      slow.catch(() => {}); // awaited below; a failed assertion before must not leave it unheard
      await writer.write(new TextEncoder().encode('{"approved":'));
      await new Promise((r) => setTimeout(r, 500));

      const r = await onA.rotateTokenSecretDetailed({ retireOlder: true });
      assert.deepEqual(r, { secretId: 2, retired: 1 });
      // At once, not after the replicas' cached minute: C lists URLs signed with the new secret,
      // D hands a new token's URL signed with it to the code, and B refuses the old URL
      // whatever the body.
      const listed = await Promise.all([run1, run2].map(async (run) => {
        const [now] = await onC.listTokens(run.id);
        assert.equal(now.status, "PENDING");
        assert.equal(secretOf(now.url), 2);
        return now.url;
      }));
      const link = await onA.start<string>("link");
      assert.equal(secretOf(await link.result({ timeout: "60s" })), 2);
      await refused(tok1.url);
      await refused(tok1.url, "{nope");
      // The completion begun before the retire ends after it: refused as well.
      await writer.write(new TextEncoder().encode("true}"));
      await writer.close();
      const late = await slow;
      assert.equal(late.status, 401, await late.clone().text());
      assert.equal((await late.json()).code, "unauthenticated");

      // Nothing changed; the URLs C listed complete the tokens.
      for (const [i, run] of [run1, run2].entries()) {
        assert.equal((await onB.listTokens(run.id))[0].status, "PENDING");
        assert.equal((await post(listed[i], yes)).status, 200);
        assert.deepEqual(await run.result({ timeout: "60s" }), { approved: true });
      }
    } finally {
      await worker.shutdown();
      await running;
    }
  },
});
