/**
 * The embedded database on its own: persistence across restarts and kill -9,
 * the data-directory lock across processes, and the postgres.js features the
 * store relies on. Run as `deno run -A tests/embedded_test.ts --child …`, this
 * file is also the child process those tests spawn.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { DataDirLockedError, startEmbedded } from "../server/store/embedded.ts";

/** The rows as a plain array: postgres.js returns an Array subclass, which strict deepEqual tells apart. */
async function rows<T>(query: Promise<readonly T[]>): Promise<T[]> {
  return [...(await query)];
}

/** A temporary data directory, removed on dispose. */
async function tempDataDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "kagzi_embedded_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The embedded database and a one-connection postgres.js pool on it, both closed on dispose. */
async function openEmbedded(
  dataDir: string,
  vacuumIntervalMs?: number,
): Promise<{ sql: postgres.Sql } & AsyncDisposable> {
  const db = await startEmbedded({ dataDir, vacuumIntervalMs });
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  return {
    sql,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 5 });
      await db.close();
    },
  };
}

/** Runs this file as a child process in `mode`; resolves once it prints "ready" when asked to. */
function spawnChild(mode: "hold" | "try-open", dataDir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child", mode, dataDir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Reads the child's stdout until a line starts with `prefix`, and returns that line. */
async function readLine(child: Deno.ChildProcess, prefix: string): Promise<string> {
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  let seen = "";
  for await (const chunk of lines) {
    seen += chunk;
    const line = seen.split("\n").find((l) => l.startsWith(prefix));
    if (line !== undefined) return line;
  }
  throw new Error(`the child ended without printing "${prefix}"; it printed: ${seen}`);
}

Deno.test("data written before close is there after starting again on the same directory", async () => {
  await using dir = await tempDataDir();
  {
    await using db = await openEmbedded(dir.path);
    await db.sql`create table notes (id int primary key, body text not null)`;
    await db.sql`insert into notes values (1, 'first'), (2, 'second')`;
  }
  await using db = await openEmbedded(dir.path);
  assert.deepEqual(
    await rows(db.sql`select id, body from notes order by id`),
    [{ id: 1, body: "first" }, { id: 2, body: "second" }],
  );
});

Deno.test("a second process on the same data directory fails fast with DataDirLockedError", async () => {
  await using dir = await tempDataDir();
  await using db = await openEmbedded(dir.path);
  const child = spawnChild("try-open", dir.path);
  const line = await readLine(child, "error ");
  assert.equal((await child.status).code, 3);
  const err = JSON.parse(line.slice("error ".length));
  assert.equal(err.name, "DataDirLockedError");
  assert.equal(
    err.message,
    `Cannot open the embedded database: data directory "${dir.path}" is in use by another ` +
      `Kagzi server (pid ${Deno.pid}); stop it or pass a different --data-dir`,
  );
  assert.deepEqual(await rows(db.sql`select 1 as one`), [{ one: 1 }], "the first one is unharmed");
});

Deno.test("a second startEmbedded in the same process is refused too", async () => {
  await using dir = await tempDataDir();
  await using _db = await openEmbedded(dir.path);
  await assert.rejects(startEmbedded({ dataDir: dir.path }), DataDirLockedError);
});

Deno.test("rows committed before kill -9 survive, and the lock dies with the process", async () => {
  await using dir = await tempDataDir();
  const child = spawnChild("hold", dir.path);
  await readLine(child, "ready");
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");

  using lock = await Deno.open(`${dir.path}/server.lock`, { read: true, write: true });
  assert.equal(await lock.tryLock(true), true, "the kernel released the dead process's lock");
  await lock.unlock();

  await using db = await openEmbedded(dir.path);
  const [{ count, sum }] = await db
    .sql`select count(*)::int as count, sum(n)::int as sum from rows`;
  assert.deepEqual({ count, sum }, { count: 100, sum: 4950 });
  assert.deepEqual(await rows(db.sql`select count(*)::int as n from rows where n < 0`), [{ n: 0 }]);
});

Deno.test("sql.begin commits a transaction, and a rollback leaves nothing", async () => {
  await using dir = await tempDataDir();
  await using db = await openEmbedded(dir.path);
  const { sql } = db;
  await sql`create table t (id int primary key)`;
  await sql.begin(async (tx) => {
    await tx`insert into t values (1)`;
    await tx`insert into t values (2)`;
  });
  await assert.rejects(
    sql.begin(async (tx) => {
      await tx`insert into t values (3)`;
      await tx`insert into t values (1)`; // duplicate key
    }),
    /duplicate key/,
  );
  await assert.rejects(
    sql.begin(async (tx) => {
      await tx`insert into t values (4)`;
      throw new Error("changed my mind");
    }),
    /changed my mind/,
  );
  assert.deepEqual(await rows(sql`select id from t order by id`), [{ id: 1 }, { id: 2 }]);
});

Deno.test("postgres.js features the store uses work against the embedded database", async (t) => {
  await using dir = await tempDataDir();
  await using db = await openEmbedded(dir.path);
  const { sql } = db;
  const q = (text: string, params: unknown[] = []) =>
    sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
  await q(`create table f (id int primary key, j jsonb, b bytea, ts timestamptz)`);

  await t.step("prepared statements with parameters, reused", async () => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await rows(q("select $1::int + 1 as v", [i])), [{ v: i + 1 }]);
    }
  });
  await t.step("jsonb parameters passed as objects", async () => {
    const doc = { a: 1, list: [1, "x", null], nested: { ok: true } };
    await q("insert into f (id, j) values ($1, $2)", [1, doc]);
    assert.deepEqual(await rows(q("select j, jsonb_typeof(j) as type from f where id = $1", [1])), [
      { j: doc, type: "object" },
    ]);
  });
  await t.step("bytea parameters as Uint8Array", async () => {
    const bytes = new Uint8Array([0, 1, 127, 128, 255]);
    await q("insert into f (id, b) values ($1, $2)", [2, bytes]);
    const [row] = await q("select b from f where id = $1", [2]);
    assert.ok(row.b instanceof Uint8Array);
    assert.deepEqual([...row.b], [...bytes]);
  });
  await t.step("timestamptz round-trips as Date", async () => {
    const at = new Date("2024-05-06T07:08:09.123Z");
    await q("insert into f (id, ts) values ($1, $2)", [3, at]);
    const [row] = await q("select ts, ts = $2::timestamptz as same from f where id = $1", [3, at]);
    assert.deepEqual(row, { ts: at, same: true });
  });
  // Parsed and run here; rows held by another connection are skipped in skip_locked_test.ts.
  await t.step("pg_advisory_xact_lock and FOR UPDATE SKIP LOCKED are accepted", async () => {
    const ids = await sql.begin(async (tx) => {
      await tx.unsafe("select pg_advisory_xact_lock(hashtext($1))", ["ns"], { prepare: true });
      return await tx`select id from f order by id for update skip locked limit 2`;
    });
    assert.deepEqual([...ids], [{ id: 1 }, { id: 2 }]);
    assert.deepEqual(
      await rows(q(`select count(*)::int as n from pg_locks where locktype = 'advisory'`)),
      [
        { n: 0 },
      ],
      "the xact lock is gone after commit",
    );
  });
  await t.step("200 concurrent queries pipeline on the one connection", async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => q("select $1::int as v", [i])),
    );
    assert.deepEqual(results.map((r) => r[0].v), Array.from({ length: 200 }, (_, i) => i));
  });
  await t.step("an error in a pipeline fails only its own query", async () => {
    const settled = await Promise.allSettled([
      q("select 1 as v"),
      q("select 1/0"),
      q("select 3 as v"),
    ]);
    assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
  });
});

Deno.test("VACUUM ANALYZE runs periodically and never inside an open transaction", async () => {
  await using dir = await tempDataDir();
  await using db = await openEmbedded(dir.path, 20);
  const { sql } = db;
  await sql`create table v (id int primary key)`;
  // Each tick finds this transaction open; a VACUUM slipped into it would abort it.
  await sql.begin(async (tx) => {
    for (let i = 0; i < 10; i++) {
      await tx`insert into v values (${i})`;
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  const pipelined = Array.from({ length: 500 }, (_, i) => sql`select ${i}::int as v`);
  assert.equal((await Promise.all(pipelined)).filter((r, i) => r[0].v !== i).length, 0);
  let vacuumed = false;
  for (let i = 0; i < 100 && !vacuumed; i++) {
    const [row] =
      await sql`select vacuum_count::int as n from pg_stat_user_tables where relname = 'v'`;
    vacuumed = row.n > 0;
    if (!vacuumed) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(vacuumed, "table v was vacuumed");
  assert.deepEqual(await rows(sql`select count(*)::int as n from v`), [{ n: 10 }]);
});

Deno.test("startEmbedded rejects with the cause when the database cannot be opened", async () => {
  await using dir = await tempDataDir();
  await Deno.writeTextFile(`${dir.path}/pgdata`, "not a directory");
  await assert.rejects(startEmbedded({ dataDir: dir.path }), (e: Error) => {
    assert.match(e.message, /^Cannot open the embedded database in ".*": .*ENOTDIR/);
    return true;
  });
  // The failed start released the lock.
  using lock = await Deno.open(`${dir.path}/server.lock`, { read: true, write: true });
  assert.equal(await lock.tryLock(true), true);
});

/** Child modes: "hold" writes rows, prints "ready" and waits to be killed; "try-open" reports the error. */
async function child(mode: string, dataDir: string): Promise<void> {
  if (mode === "try-open") {
    try {
      await startEmbedded({ dataDir });
      console.log("opened");
      Deno.exit(0);
    } catch (e) {
      const { name, message } = e as Error;
      console.log(`error ${JSON.stringify({ name, message })}`);
      Deno.exit(3);
    }
  }
  const db = await startEmbedded({ dataDir });
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await sql`create table rows (n int primary key)`;
  for (let n = 0; n < 50; n++) await sql`insert into rows values (${n})`;
  await sql.begin(async (tx) => {
    for (let n = 50; n < 100; n++) await tx`insert into rows values (${n})`;
  });
  // Left open on purpose: kill -9 must roll it back.
  sql.begin(async (tx) => {
    await tx`insert into rows values (-1)`;
    console.log("ready");
    await new Promise(() => {});
  });
}

if (import.meta.main && Deno.args[0] === "--child") await child(Deno.args[1], Deno.args[2]);
