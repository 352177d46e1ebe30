/**
 * An emit is one transaction: the event's record and all the runs it starts are stored
 * together or not at all. Faults are real: a trigger installed in the database makes the emit's
 * last statement fail once (Postgres: it terminates its own connection, so the server answers
 * UNAVAILABLE and the SDK retries; embedded: it raises), and the server is killed with kill -9
 * while emits are in flight. Afterwards every stored event names one run per subscribed type
 * and every run of those types belongs to a stored event. A hook delivery cut off the same way
 * answers 503 with Retry-After, and its redelivery starts the one run.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import postgres from "postgres";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { startEmbedded } from "../server/store/embedded.ts";
import { backends, postgresIgnored } from "./_db.ts";
import { type ServerProcess, startTestServer, type TestServer } from "./_server.ts";

const types = ["fault-a", "fault-b"];
const noop = (_ctx: Context, input: unknown) => Promise.resolve(input);

/** Registers both types as subscribed to "order.created" (the subscriptions outlive the worker). */
async function subscribe(url: string): Promise<void> {
  let b = Worker.builder(url).logger(false);
  for (const t of types) b = b.workflow(t, noop, { triggers: [{ event: "order.created" }] });
  await (await b.build()).shutdown();
}

/** Runs SQL on the test server's database (embedded: while no server holds it). */
async function withSql(server: TestServer, fn: (sql: postgres.Sql) => Promise<void>) {
  const embedded = server.backend === "embedded"
    ? await startEmbedded({ dataDir: server.dataDir })
    : undefined;
  const sql = postgres(embedded?.url ?? server.databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await fn(sql);
  } finally {
    await sql.end();
    await embedded?.close();
  }
}

/** Every event names one run per type, and every run of the types is named by one event. */
async function assertWhole(client: Kagzi): Promise<number> {
  const named = new Set<string>();
  let events = 0;
  for (let token = "";;) {
    const page = await client.listEvents({ pageToken: token, pageSize: 200 });
    for (const e of page.events) {
      events++;
      assert.deepEqual(e.runs.map((r) => r.workflowType), types, `event ${e.id} is whole`);
      for (const r of e.runs) named.add(r.runId);
    }
    if (!(token = page.nextPageToken)) break;
  }
  for (const t of types) {
    for await (const w of client.list().type(t)) {
      assert.ok(named.has(w.id), `run ${w.id} of ${t} belongs to a stored event`);
    }
  }
  assert.equal(named.size, events * types.length);
  return events;
}

const faultSql = (action: string) => `
  create sequence kagzi_test_fault;
  create function kagzi_test_fault() returns trigger language plpgsql as $$
  begin
    if nextval('kagzi_test_fault') = 1 then ${action}; end if;
    return new;
  end $$;
  create trigger kagzi_test_fault after update on kagzi_events
    for each row execute function kagzi_test_fault();`;

for (const backend of await backends()) {
  Deno.test(`an emit whose last statement fails starts nothing; the same id then starts each type once (${backend})`, async () => {
    await using server = await startTestServer(backend);
    await subscribe(server.url);
    let current: ServerProcess = server;
    if (backend === "embedded") await server.stop();
    await withSql(server, async (sql) => {
      await sql.unsafe(faultSql(
        backend === "postgres"
          ? "perform pg_terminate_backend(pg_backend_pid())"
          : "raise exception 'injected fault'",
      )).simple();
    });
    if (backend === "embedded") current = await server.restart();
    const client = await Kagzi.connect(current.url);
    if (backend === "postgres") {
      // The connection dies inside the transaction: UNAVAILABLE, retried by the SDK with the id.
      const e = await client.emit("order.created", { n: 1 }, { id: "e-1" });
      assert.equal(e.alreadyExists, false, "the first attempt left nothing behind");
      assert.equal(e.runs.length, 2);
    } else {
      await assert.rejects(client.emit("order.created", { n: 1 }, { id: "e-1" }), {
        code: "INTERNAL",
      });
      assert.equal(await assertWhole(client), 0, "nothing stored by the failed emit");
      const e = await client.emit("order.created", { n: 1 }, { id: "e-1" });
      assert.equal(e.alreadyExists, false);
    }
    assert.equal(await assertWhole(client), 1);
    if (backend === "embedded") await current.stop();
    await withSql(server, async (sql) => {
      const [{ last_value }] = await sql`select last_value from kagzi_test_fault`;
      assert.ok(Number(last_value) >= 2, "the fault fired, then the retry passed it");
    });
  });

  Deno.test(`emits in flight when the server is killed with kill -9 are whole or absent (${backend})`, async () => {
    await using server = await startTestServer(backend);
    await subscribe(server.url);
    const client = await Kagzi.connect(server.url, { retryTimeout: "0s" });
    // Four lanes emit one id after another; the server dies once ten emits were acknowledged.
    let acked = 0;
    let killed = false;
    const tenAcked = Promise.withResolvers<void>();
    const lane = async (lane: number) => {
      let ok = 0;
      for (let i = lane; i < 60 && !killed; i += 4) {
        try {
          await client.emit("order.created", { i }, { id: `k-${i}` });
        } catch {
          break;
        }
        ok++;
        if (++acked === 10) tenAcked.resolve();
      }
      return ok;
    };
    const lanes = [0, 1, 2, 3].map(lane);
    await tenAcked.promise;
    server.kill("SIGKILL");
    killed = true;
    await server.status;
    const done = (await Promise.all(lanes)).reduce((a, b) => a + b, 0);
    const again = await server.restart();
    const after = await Kagzi.connect(again.url);
    const stored = await assertWhole(after);
    assert.ok(stored >= done, `every acknowledged emit is stored (${done} acknowledged)`);
    // Emitting every id again completes the set: each id ends with exactly one set of runs.
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => after.emit("order.created", { i }, { id: `k-${i}` })),
    );
    assert.equal(await assertWhole(after), 60);
    console.log(`kill -9 (${backend}): ${done} of 60 emits acknowledged, ${stored} stored`);
  });
}

Deno.test({
  name:
    "a hook delivery cut off by a database fault is 503 with Retry-After; redelivered, one run (postgres)",
  ignore: await postgresIgnored(),
  async fn() {
    await using server = await startTestServer("postgres");
    const client = await Kagzi.connect(server.url);
    const hook = await client.createHook("pay", { workflow: "pay", secret: "s3cret" });
    await withSql(server, async (sql) => {
      await sql.unsafe(`
        create sequence kagzi_test_fault;
        create function kagzi_test_fault() returns trigger language plpgsql as $$
        begin
          if nextval('kagzi_test_fault') = 1 then
            perform pg_terminate_backend(pg_backend_pid());
          end if;
          return new;
        end $$;
        create trigger kagzi_test_fault after insert on kagzi_payloads
          for each row execute function kagzi_test_fault();`).simple();
    });
    const body = JSON.stringify({ amount: 5 });
    const post = () =>
      fetch(`${server.url}${hook.path}`, {
        method: "POST",
        headers: {
          "x-kagzi-signature": `sha256=${
            createHmac("sha256", "s3cret").update(body).digest("hex")
          }`,
          "idempotency-key": "pay-1",
        },
        body,
      });
    const first = await post();
    assert.equal(first.status, 503, await first.clone().text());
    assert.ok(Number(first.headers.get("retry-after")) >= 1);
    assert.equal((await first.json()).code, "unavailable");
    assert.equal((await client.list().type("pay")).workflows.length, 0, "nothing half-stored");
    const again = await post();
    assert.equal(again.status, 202);
    const { runId, alreadyExists } = await again.json();
    assert.equal(alreadyExists, false);
    assert.deepEqual((await client.list().type("pay")).workflows.map((w) => w.id), [runId]);
  },
});
