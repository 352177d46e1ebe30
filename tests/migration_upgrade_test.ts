/**
 * Upgrading a database with runs in flight. The server of the commit before the newest
 * migration (taken from git history) runs on a fresh database with today's workers, and leaves
 * runs sleeping, waiting for a signal and waiting for a scheduled step retry. It stops; today's
 * server starts on the same database (applying the new migrations) and every run finishes with
 * its expected output. Skipped when git history is not available (a shallow checkout).
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import postgres from "postgres";
import { backends, freshDatabase } from "./_db.ts";
import { spawnDeno } from "./_process.ts";
import { freePort, startServer } from "./_server.ts";
import { readJournal, startWorker, tempJournal, waitFor } from "./_worker.ts";
import { migrations } from "../server/store/migrations.gen.ts";

const root = new URL("..", import.meta.url).pathname;

function git(...args: string[]): string | undefined {
  try {
    const out = new Deno.Command("git", { args: ["-C", root, ...args], stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The commit before the newest migration (`version`) was added, when history has it. */
function previousRelease(): { rev: string; version: number } | undefined {
  const newest = [...migrations].sort((a, b) => b.version - a.version)[0];
  const prefix = String(newest.version).padStart(4, "0");
  // The oldest commit adding a file of that number (it may have been renamed since).
  const added = git("log", "--diff-filter=A", "--format=%H", "--", `migrations/${prefix}_*`)
    ?.split("\n").filter(Boolean).at(-1);
  const rev = added && git("rev-parse", "--verify", "-q", `${added}^`);
  return rev ? { rev, version: newest.version } : undefined;
}

const previous = previousRelease();
const workflowTypes = ["sleeper", "signal-waiter", "flaky"];

for (const backend of await backends()) {
  Deno.test({
    name:
      `runs left sleeping, waiting for a signal and mid-retry by the previous release finish after the upgrade (${backend})`,
    ignore: !previous,
    sanitizeResources: false,
    async fn() {
      const old = await Deno.makeTempDir({ prefix: "kagzi_prev_" });
      await using journal = await tempJournal();
      await using db = backend === "postgres" ? await freshDatabase() : undefined;
      const dataDir = backend === "embedded" ? `${old}/data` : undefined;
      const where = db ? ["--database-url", db.url] : ["--data-dir", dataDir!];
      try {
        const tar = `${old}/tree.tar`;
        git("archive", "--format=tar", "-o", tar, previous!.rev);
        const untar = await new Deno.Command("tar", { args: ["-xf", tar, "-C", old] }).output();
        assert.ok(untar.success, "the previous release unpacks");
        const port = freePort();
        const prevServer = await spawnDeno(
          [
            "run",
            "-A",
            `${old}/server/main.ts`,
            "--port",
            String(port),
            "--grpc-port",
            "0",
            "--log-level",
            "warn",
            ...where,
          ],
          {},
          " ready: ",
          "previous server",
        );
        const url = `http://127.0.0.1:${port}`;
        const opts = { types: workflowTypes, journal: journal.path };
        // Today's client: its run handles outlive the switch (same port; result() waits it out).
        const client = await Kagzi.connect(url);
        let runs;
        {
          await using prevServerProc = prevServer;
          await using worker = await startWorker(url, opts);
          runs = {
            sleeper: await client.start("sleeper").input({ ms: 15_000 }),
            signal: await client.start<{ n: number }>("signal-waiter"),
            flaky: await client.start("flaky").input({
              failures: 1,
              attempts: 3,
              initialMs: 20_000,
            }),
          };
          const seen: string[] = [];
          await waitFor("the runs to be suspended on the previous release", async () => {
            const all = await Promise.all(Object.values(runs!).map((r) => client.get(r.id)));
            const now = all.map((r) => `${r.type} ${r.status}`).join(", ");
            if (seen.at(-1) !== now) seen.push(now);
            const text = Deno.readTextFileSync(journal.path);
            // The signal wait may hold its run on a worker for a while before it suspends it.
            return all[0].status === "SLEEPING" && all[2].status !== "RUNNING" &&
              text.includes('"flaky"') && text.includes('"before"');
          }).catch((err) => {
            throw new Error(`${err.message}; seen: ${seen.join(" / ")}`);
          });
          worker.kill("SIGTERM");
          await worker.status;
          prevServerProc.kill("SIGTERM");
          await prevServerProc.status;
        }
        const results = Promise.all([
          runs.sleeper.result({ timeout: "60s" }),
          runs.signal.result({ timeout: "60s" }),
          runs.flaky.result({ timeout: "60s" }),
        ]);

        const versions = async () => {
          if (!db) return undefined;
          const sql = postgres(db.url, { max: 1, onnotice: () => {} });
          const rows = await sql`select max(version)::int as v from kagzi_migrations`;
          await sql.end();
          return rows[0].v as number;
        };
        assert.ok((await versions() ?? 0) < previous!.version, "the previous schema was older");
        await using server = await startServer({ databaseUrl: db?.url, dataDir, port });
        await using worker = await startWorker(server.url, opts);
        await runs.signal.signal("go", { n: 7 });
        const [slept, signalled, flaky] = await results;
        assert.equal(typeof slept, "number");
        assert.deepEqual(signalled, { n: 7 });
        assert.equal(flaky, 2);
        const flakyRuns = readJournal(journal.path).filter((e) => e.step === "flaky");
        assert.equal(flakyRuns.length, 2);
        assert.equal(
          flakyRuns[1].pid,
          worker.pid,
          "the retry scheduled before the upgrade ran after it",
        );
        if (db) {
          assert.equal(await versions(), previous!.version, "the new migrations were applied");
        }
      } finally {
        await Deno.remove(old, { recursive: true }).catch(() => {});
      }
    },
  });
}
