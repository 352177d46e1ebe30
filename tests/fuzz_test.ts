/**
 * Property-based fuzzing of every RPC on every protocol (fast-check, fixed seed).
 *
 * Each generated request is hostile in one way (see tests/_fuzz_cases.ts) and must
 * be answered within a timeout, never with `internal`, `unknown` or HTTP 500, with
 * the code its class calls for, and — when refused — without changing anything in
 * the database. Afterwards the server must be healthy, serve a real workflow on
 * every protocol, have logged no internal error, and not have grown its memory
 * without bound.
 *
 * `deno task test` runs a bounded number of requests; more are one variable away:
 * `KAGZI_FUZZ_RUNS=5000 deno test -A tests/fuzz_test.ts` (and `KAGZI_FUZZ_SEED=n`;
 * `KAGZI_FUZZ_TRACE=1` prints each request before it is sent).
 *
 * Native gRPC requests share one HTTP/2 connection, as gRPC clients do: abrupt
 * connection handling crashes Deno's node:http2 server (denoland/deno#36788), which
 * is the subject of the listener-isolation test, not of this one.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import postgres from "postgres";
import { Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { allMethods } from "./_fuzz_messages.ts";
import { arbCase, type Case, keys, maxRequestBytes } from "./_fuzz_cases.ts";
import {
  type Answer,
  contentTypes,
  envelope,
  protocols,
  rssBytes,
  send,
  type Target,
} from "./_fuzz_wire.ts";

const runs = Number(Deno.env.get("KAGZI_FUZZ_RUNS") ?? 800);
const seed = Number(Deno.env.get("KAGZI_FUZZ_SEED") ?? 20261123);
const timeoutMs = 15_000;

/**
 * RPCs whose handlers are placeholders answering `unimplemented` for now. Remove a
 * name here once its handler is implemented, and the fuzz test holds it to the rules.
 */
const pendingRpcs = new Set<string>([]);

/** Answers that are a server fault whatever was sent. */
const faults = new Set(["internal", "unknown", "data_loss", "?", "http-500"]);

function check(c: Case, a: Answer): void {
  const where = `${c.cls} ${c.protocol} ${c.rpc}: ${a.code} (HTTP ${a.http}) ${a.message}`;
  assert.ok(!faults.has(a.code) && a.http !== 500, `server fault: ${where}`);
  const rpcName = c.rpc.split("/").at(-1)!;
  if (a.code === "unimplemented" && !c.allow?.includes("unimplemented")) {
    assert.ok(pendingRpcs.has(rpcName), `unimplemented from an implemented RPC: ${where}`);
  }
  if (c.expect && !(pendingRpcs.has(rpcName) && a.code === "unimplemented")) {
    assert.ok(c.expect.includes(a.code), `expected ${c.expect.join(" or ")}: ${where}`);
  }
}

/** Row counts of every table a request can write (scheduled runs, which fire by time, aside). */
async function fingerprint(sql: postgres.Sql): Promise<string> {
  const tables = await sql<{ t: string }[]>`
    select tablename as t from pg_tables
    where schemaname = 'public' and tablename not in ('kagzi_servers')
      and tablename not like '%migration%'
    order by tablename`;
  const parts = tables.map(({ t }) =>
    t === "kagzi_runs"
      ? "(select count(*) from kagzi_runs where schedule_id is null)"
      : t === "kagzi_payloads"
      ? `(select count(*) from kagzi_payloads p where exists (select 1 from kagzi_runs r
           where r.namespace_id = p.namespace_id and r.run_id = p.run_id
             and r.schedule_id is null))`
      : `(select count(*) from ${t})`
  );
  const [row] = await sql.unsafe(`select ${parts.map((p, i) => `${p} as c${i}`).join(", ")}`);
  return tables.map(({ t }, i) => `${t}=${row[`c${i}`]}`).join(" ");
}

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

Deno.test(`fuzz: every RPC on every protocol answers hostile requests correctly (${backend}, ${runs} runs, seed ${seed})`, async (t) => {
  await using server = await startTestServer(backend, {
    env: { KAGZI_API_KEYS: keys.config },
    args: ["--poll-timeout-ms", "1000"],
  });
  const target: Target = { url: server.url, grpcPort: server.grpcPort };
  // Side effects are counted in the database; the embedded one is private to the server.
  const sql = server.databaseUrl
    ? postgres(server.databaseUrl, { max: 1, onnotice: () => {} })
    : undefined;
  const methods = allMethods();
  assert.ok(methods.length >= 33, `all RPCs enumerated (${methods.length})`);
  const seen = new Map<string, number>();
  /** Refused requests whose database fingerprint was compared, and those that changed it. */
  const refused = { checked: 0, changed: [] as string[] };
  try {
    // Warm up (JIT, pools) before measuring memory.
    for (const p of protocols) {
      await send(target, {
        protocol: p,
        path: "/kagzi.v1.AdminService/HealthCheck",
        headers: { "content-type": contentTypes[p], authorization: `Bearer ${keys.admin}` },
        body: p === "connect-json" ? new TextEncoder().encode("{}") : envelopeIf(p),
      }, timeoutMs);
    }
    const rssBefore = rssBytes(server.pid);
    let before = sql ? await fingerprint(sql) : "";

    await t.step(`${runs} generated requests`, async () => {
      await fc.assert(
        fc.asyncProperty(arbCase(methods, protocols), async (c) => {
          if (Deno.env.get("KAGZI_FUZZ_TRACE")) {
            console.error(c.cls, c.protocol, c.rpc, c.body.length, JSON.stringify(c.headers));
          }
          const answer = await send(target, c, timeoutMs).catch((err) => {
            throw new Error(`no answer (hang?) to ${c.cls} ${c.protocol} ${c.rpc}: ${err}`);
          });
          seen.set(c.cls, (seen.get(c.cls) ?? 0) + 1);
          check(c, answer);
          if (!sql) return;
          const after = await fingerprint(sql);
          if (answer.code !== "ok") {
            refused.checked++;
            if (after !== before) {
              refused.changed.push(`${c.cls} ${c.protocol} ${c.rpc}: ${before} → ${after}`);
            }
          }
          before = after;
        }),
        { seed, numRuns: runs, endOnFailure: true },
      ).catch(async (err) => {
        const exited = await Promise.race([
          server.status.then((s) => `server exited: ${JSON.stringify(s)}`),
          new Promise((r) => setTimeout(() => r("server still running"), 500)),
        ]);
        throw new Error(
          `${err.message}\n--- ${exited}; output ---\n${server.output().slice(-4000)}`,
          {
            cause: err,
          },
        );
      });
    });

    await t.step("every class of hostile request was sent", () => {
      const families = [
        "message",
        "json-",
        "random-bytes",
        "frame-",
        "content-type",
        "no-key",
        "scoped-key",
      ];
      const sent = (f: string) =>
        [...seen].filter(([cls]) => cls === f || (f.endsWith("-") && cls.startsWith(f)))
          .reduce((n, [, v]) => n + v, 0);
      const missing = families.filter((f) => sent(f) === 0);
      assert.deepEqual(missing, [], `classes never sent: ${JSON.stringify([...seen])}`);
    });

    // The embedded database is private to the server process (one connection): this needs
    // Postgres, and shows as ignored without it.
    await t.step({
      name: "a refused request changes nothing in the database",
      ignore: !sql,
      fn() {
        assert.ok(refused.checked >= runs / 4, `only ${refused.checked} refused requests`);
        assert.deepEqual(refused.changed, []);
      },
    });

    await t.step("bodies over the limit are refused whole on every protocol", async () => {
      const huge = new Uint8Array(maxRequestBytes + 1024);
      for (const p of protocols) {
        for (const key of [keys.admin, "not-a-key-of-this-server"]) {
          const c: Case = {
            cls: "oversized",
            rpc: "/kagzi.v1.WorkflowService/StartWorkflow",
            protocol: p,
            path: "/kagzi.v1.WorkflowService/StartWorkflow",
            headers: { "content-type": contentTypes[p], authorization: `Bearer ${key}` },
            body: p === "grpc" || p === "grpc-web" ? envelope(huge) : huge,
            expect: [key === keys.admin ? "resource_exhausted" : "unauthenticated"],
          };
          check(c, await send(target, c, 60_000));
        }
      }
      if (sql) assert.equal(await fingerprint(sql), before);
    });

    await t.step("the server is healthy, serves a real workflow and kept its memory", async () => {
      const worker = await Worker.builder(server.url).apiKey(keys.admin).workflows({
        after: async (ctx, n: number) => await ctx.step("double").run(() => n * 2),
      }).build();
      const running = worker.run();
      try {
        for (
          const [protocol, url] of [["connect", server.url], ["grpc-web", server.url], [
            "grpc",
            server.grpcUrl,
          ]] as const
        ) {
          const client = await Kagzi.connect(url, { apiKey: keys.admin, protocol });
          assert.equal((await client.health()).healthy, true);
          const run = await client.start("after").input(21);
          assert.equal(await run.result({ timeout: "30s" }), 42);
        }
      } finally {
        await worker.shutdown();
        await running;
      }
      const grown = rssBytes(server.pid) - rssBefore;
      console.log(
        `fuzz: ${runs} requests (${[...seen].map(([k, v]) => `${k} ${v}`).join(", ")}); ` +
          `server RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB → +${
            (grown / 2 ** 20).toFixed(0)
          } MiB`,
      );
      assert.ok(grown < 256 * 2 ** 20, `server memory grew by ${grown} bytes`);
      const log = server.output();
      assert.doesNotMatch(log, /internal error|unstorable text reached the database/, log);
    });
  } finally {
    target.grpcSession?.close();
    await sql?.end({ timeout: 1 });
  }
});

function envelopeIf(p: string): Uint8Array {
  return p === "grpc" || p === "grpc-web" ? envelope(new Uint8Array()) : new Uint8Array();
}
