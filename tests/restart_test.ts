import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import postgres from "postgres";
import { backends, freshDatabase } from "./_db.ts";
import { startServer, startTestServer } from "./_server.ts";
import { migrations } from "../server/store/migrations.gen.ts";

for (const backend of await backends()) {
  Deno.test(`restarting the server loses nothing, after SIGTERM and after kill -9 (${backend})`, async () => {
    await using server = await startTestServer(backend);
    let client = await Kagzi.connect(server.url);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push((await client.start("keep").input({ i }).id(`keep-${i}`)).id);
    }
    await client.cancel(ids[0]);

    await server.stop();
    let again = await server.restart({ port: server.port, grpcPort: server.grpcPort });
    client = await Kagzi.connect(again.url);
    const check = async () => {
      const page = await client.list().type("keep").pageSize(100).withTotal();
      assert.equal(page.totalCount, 20);
      for (const [i, id] of ids.slice(0, 20).entries()) {
        const w = await client.get(id);
        assert.deepEqual(w.input, { i });
        assert.equal(w.status, i === 0 ? "CANCELLED" : "PENDING");
      }
      const dup = await client.start("keep").id("keep-5");
      assert.equal(dup.alreadyExists, true, "idempotency keys survive the restart");
    };
    await check();

    ids.push((await client.start("keep-late").id("late").input({ late: true })).id);
    again.kill("SIGKILL");
    await again.status;
    again = await server.restart({ port: server.port, grpcPort: server.grpcPort });
    client = await Kagzi.connect(again.url);
    await check();
    assert.deepEqual(
      (await client.get(ids[20])).input,
      { late: true },
      "a write acknowledged before kill -9 is kept",
    );
  });
}

if ((await backends()).includes("embedded")) {
  Deno.test("a second server on the same embedded data directory refuses to start with a clear message (embedded)", async () => {
    await using first = await startTestServer("embedded");
    await assert.rejects(
      startServer({ dataDir: first.dataDir }),
      (e: Error) =>
        /data directory ".*" is in use by another Kagzi server \(pid \d+\)/.test(e.message),
    );
    // The first one is unharmed.
    const client = await Kagzi.connect(first.url);
    assert.equal((await client.health()).healthy, true);
  });
}

if ((await backends()).includes("postgres")) {
  Deno.test("two servers starting at once on an empty database migrate it once and both serve (postgres)", async () => {
    await using db = await freshDatabase();
    const [a, b] = await Promise.all([
      startServer({ databaseUrl: db.url }),
      startServer({ databaseUrl: db.url }),
    ]);
    try {
      const run = await (await Kagzi.connect(a.url)).start("shared").input(1);
      assert.deepEqual((await (await Kagzi.connect(b.url)).get(run.id)).input, 1);
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      const applied = await sql`select version from kagzi_migrations order by version`;
      await sql.end();
      assert.deepEqual([...applied].map((r) => r.version), migrations.map((m) => m.version));
    } finally {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
    }
  });
}
