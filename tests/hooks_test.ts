/**
 * Webhooks on real server processes (two replicas on Postgres, one embedded), posted to with
 * plain `fetch` as a third party would: a bad, missing or other hook's signature is 401, an
 * unknown hook 404, a body over the payload limit 413 (declared or streamed), a body that is not
 * JSON 400 — each before anything is written; a good delivery is 202 with the run started on the
 * body; the same Idempotency-Key twice (once per replica) is one run; a hook that emits an event
 * fans out; secrets are never listed; a server with API keys serves hooks without one.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { type Context, Kagzi, type KagziError, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";

const secret = "whsec_0123456789abcdef";
const sign = (body: string | Uint8Array, key = secret) =>
  `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;

/** POSTs `body` to a hook as a third party would; the status and the JSON answer. */
async function deliver(
  base: string,
  path: string,
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  return { status: res.status, json: await res.json() };
}

const handlePayment = (_ctx: Context, input: unknown) => Promise.resolve({ paid: input });

async function runCount(client: Kagzi, type: string): Promise<number> {
  let n = 0;
  for await (const _ of client.list().type(type)) n++;
  return n;
}

for (const backend of await backends()) {
  Deno.test(`a hook starts a run from a signed POST, once per Idempotency-Key, and refuses bad deliveries before any write (${backend})`, async (t) => {
    await using server = await startTestServer(backend);
    const other = backend === "postgres" ? await server.restart() : server;
    const client = await Kagzi.connect(server.url);
    const hook = await client.createHook("stripe-events", {
      workflow: "handle-payment",
      secret,
    });
    assert.equal(hook.path, "/v1/hooks/default/stripe-events");
    const path = hook.path;
    const worker = await Worker.builder(server.url).workflow("handle-payment", handlePayment)
      .logger(false).build();
    const running = worker.run();
    try {
      await t.step("bad, missing and malformed signatures are 401 and write nothing", async () => {
        const body = JSON.stringify({ id: "evt_1" });
        for (
          const sig of [
            sign(body, "another secret of a hook"),
            sign(body + " "),
            "",
            "sha256=zz",
            sign(body).toUpperCase(),
            sign(body).slice(7),
          ]
        ) {
          const r = await deliver(server.url, path, body, sig ? { "x-kagzi-signature": sig } : {});
          assert.equal(r.status, 401, `signature ${JSON.stringify(sig)}`);
          assert.equal(r.json.code, "unauthenticated");
        }
        assert.equal(await runCount(client, "handle-payment"), 0);
      });

      await t.step("a good delivery is 202 and starts a run with the body as input", async () => {
        const body = JSON.stringify({ id: "evt_2", amount: 1299 });
        const r = await deliver(other.url, path, body, { "x-kagzi-signature": sign(body) });
        assert.equal(r.status, 202);
        assert.equal(r.json.alreadyExists, false);
        const out = await client.handle(String(r.json.runId)).result({ timeout: "30s" });
        assert.deepEqual(out, { paid: { id: "evt_2", amount: 1299 } });
      });

      await t.step("the same Idempotency-Key twice, once per replica, is one run", async () => {
        const body = JSON.stringify({ id: "evt_3" });
        const headers = { "x-kagzi-signature": sign(body), "idempotency-key": "evt_3" };
        const first = await deliver(server.url, path, body, headers);
        const second = await deliver(other.url, path, body, headers);
        assert.equal(first.status, 202);
        assert.equal(second.status, 202);
        assert.equal(second.json.runId, first.json.runId);
        assert.equal(first.json.workflowId, "evt_3");
        assert.equal(second.json.alreadyExists, true);
        const w = await client.handle({ workflowId: "evt_3" }).get();
        assert.equal(w.id, first.json.runId);
        assert.equal(await runCount(client, "handle-payment"), 2);
      });

      await t.step("bodies over the payload limit are 413, declared or streamed", async () => {
        const big = new Uint8Array(4 * 1024 * 1024 + 1).fill(0x20);
        big[0] = 0x5b; // "[" … "]": JSON but too large
        big[big.length - 1] = 0x5d;
        const declared = await deliver(server.url, path, big, { "x-kagzi-signature": sign(big) });
        assert.equal(declared.status, 413);
        const chunks = [big.subarray(0, 3_000_000), big.subarray(3_000_000)];
        const stream = new ReadableStream<Uint8Array>({
          pull(c) {
            const next = chunks.shift();
            if (next) c.enqueue(next);
            else c.close();
          },
        });
        const streamed = await deliver(server.url, path, stream, {
          "x-kagzi-signature": sign(big),
        });
        assert.equal(streamed.status, 413);
        assert.equal(await runCount(client, "handle-payment"), 2);
      });

      await t.step("signed bodies that are not JSON are 400; unknown hooks 404", async () => {
        for (const body of ["{not json", "", "\xff"]) {
          const r = await deliver(server.url, path, body, { "x-kagzi-signature": sign(body) });
          assert.equal(r.status, 400, `body ${JSON.stringify(body)}`);
          assert.equal(r.json.code, "invalid_argument");
        }
        const body = "{}";
        const sig = { "x-kagzi-signature": sign(body) };
        assert.equal((await deliver(server.url, "/v1/hooks/default/nope", body, sig)).status, 404);
        assert.equal(
          (await deliver(server.url, "/v1/hooks/other/stripe-events", body, sig)).status,
          404,
        );
        assert.equal((await deliver(server.url, "/v1/hooks/default", body, sig)).status, 404);
        for (
          const bad of ["/v1/hooks//stripe-events", "/v1/hooks/default/%E0%A4%A", "/v1/hooks/a/b/c"]
        ) {
          assert.equal((await deliver(server.url, bad, body, sig)).status, 404, bad);
        }
        const bad = await deliver(server.url, path, body, { ...sig, "idempotency-key": "a\u0001" })
          .catch(() => ({ status: 400, json: {} })); // fetch may refuse the header itself
        assert.equal(bad.status, 400);
        // A header's bytes are UTF-8 (as curl sends "café"); bytes that are not are refused.
        const notUtf8 = await deliver(server.url, path, body, {
          ...sig,
          "idempotency-key": "caf\u00e9",
        });
        assert.equal(notUtf8.status, 400);
        assert.match(String(notUtf8.json.message), /"Idempotency-Key" header is not UTF-8/);
        const utf8 = await deliver(server.url, path, body, {
          ...sig,
          "idempotency-key": "caf\u00c3\u00a9", // the bytes of "café" in UTF-8
        });
        assert.equal(utf8.status, 202);
        assert.equal(utf8.json.workflowId, "café");
        const get = await fetch(`${server.url}${path}`);
        assert.equal(get.status, 405);
        await get.body?.cancel();
        assert.equal(await runCount(client, "handle-payment"), 3);
      });

      await t.step(
        "secrets are not listed; a hint tells them apart; delete refuses later POSTs",
        async () => {
          const listed = await client.listHooks();
          assert.deepEqual(listed.map((h) => [h.name, h.workflow, h.event]), [
            ["stripe-events", "handle-payment", undefined],
          ]);
          assert.ok(!JSON.stringify(listed).includes(secret));
          assert.match(listed[0].secretHint, /^[0-9a-f]{8}$/);
          const replaced = await client.createHook("stripe-events", {
            workflow: "handle-payment",
            secret: "a-rotated-secret-value",
          });
          assert.notEqual(replaced.secretHint, listed[0].secretHint);
          const body = "{}";
          assert.equal(
            (await deliver(server.url, path, body, { "x-kagzi-signature": sign(body) })).status,
            401,
            "the old secret no longer signs",
          );
          await client.deleteHook("stripe-events");
          const after = await deliver(server.url, path, body, {
            "x-kagzi-signature": sign(body, "a-rotated-secret-value"),
          });
          assert.equal(after.status, 404);
          await assert.rejects(client.deleteHook("stripe-events"), { code: "NOT_FOUND" });
        },
      );

      await t.step("bad hook definitions are INVALID_ARGUMENT naming the field", async () => {
        const bad = async (
          name: string,
          options: Parameters<Kagzi["createHook"]>[1],
          subject: string,
        ) =>
          await assert.rejects(client.createHook(name, options), (e: KagziError) => {
            assert.equal(e.code, "INVALID_ARGUMENT");
            assert.equal(e.subject, subject);
            return true;
          });
        await bad("a/b", { workflow: "x", secret }, "name");
        await bad("ok", { workflow: "x", secret: "" }, "secret");
        await bad("ok", { secret }, "workflow_type");
        await bad("ok", { workflow: "x", event: "y", secret }, "event");
        assert.deepEqual(await client.listHooks(), []);
      });

      await t.step(
        "figures: 100 signed deliveries one after another (logged, not asserted)",
        async () => {
          const timed = await client.createHook("timed", { workflow: "handle-payment", secret });
          const ms: number[] = [];
          for (let i = 0; i < 100; i++) {
            const body = JSON.stringify({ i });
            const t0 = performance.now();
            const r = await deliver(other.url, timed.path, body, {
              "x-kagzi-signature": sign(body),
            });
            ms.push(performance.now() - t0);
            assert.equal(r.status, 202);
          }
          ms.sort((x, y) => x - y);
          console.log(
            `hook delivery → 202 (${backend}): p50 ${ms[49].toFixed(1)} ms, p99 ${
              ms[98].toFixed(1)
            } ms`,
          );
        },
      );
    } finally {
      await worker.shutdown();
      await running;
    }
  });

  Deno.test(`a hook that emits an event starts every subscribed type, once per Idempotency-Key (${backend})`, async () => {
    await using server = await startTestServer(backend);
    const other = backend === "postgres" ? await server.restart() : server;
    const client = await Kagzi.connect(server.url);
    const worker = await Worker.builder(server.url)
      .workflow("ship", handlePayment, { triggers: [{ event: "github.push" }] })
      .workflow("notify", handlePayment, { triggers: [{ event: "github.push" }] })
      .logger(false).build();
    await worker.shutdown();
    const hook = await client.createHook("github", { event: "github.push", secret });
    assert.equal(hook.event, "github.push");
    const body = JSON.stringify({ ref: "refs/heads/main" });
    const headers = { "x-kagzi-signature": sign(body), "idempotency-key": "delivery-1" };
    const first = await deliver(server.url, hook.path, body, headers);
    const second = await deliver(other.url, hook.path, body, headers);
    assert.equal(first.status, 202);
    assert.equal(first.json.eventId, "delivery-1");
    assert.equal((first.json.runIds as string[]).length, 2);
    assert.deepEqual(second.json, { ...first.json, alreadyExists: true });
    const [event] = (await client.listEvents()).events;
    assert.equal(event.id, "delivery-1");
    assert.deepEqual(event.data, { ref: "refs/heads/main" });
    assert.equal(await runCount(client, "ship"), 1);
    assert.equal(await runCount(client, "notify"), 1);
  });
}

Deno.test("hooks need no API key on a server that requires one; managing them does (embedded)", async () => {
  await using server = await startTestServer("embedded", {
    args: ["--api-keys", "key-0123456789abcdef"],
  });
  await assert.rejects(Kagzi.connect(server.url), { code: "UNAUTHORIZED" });
  const client = await Kagzi.connect(server.url, { apiKey: "key-0123456789abcdef" });
  const hook = await client.createHook("h", { workflow: "w", secret });
  const body = "[1]";
  const r = await deliver(server.url, hook.path, body, { "x-kagzi-signature": sign(body) });
  assert.equal(r.status, 202);
  assert.deepEqual((await client.get(String(r.json.runId))).input, [1]);
});
