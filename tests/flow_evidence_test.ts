/**
 * The evidence test of issue 20: 300 runs over 30 customers under "one open run per customer"
 * and "five open runs in all", executed by several worker processes of which some are killed
 * with kill -9 while they hold runs (Postgres: two server replicas). A journal written from
 * inside the first and the last step of every run shows that no two runs of one customer were
 * ever open at once and never more than five at all; every run completes and every slot is
 * given back.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import postgres from "postgres";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { spawnDeno, type TestProcess } from "./_process.ts";
import { leaseFlags, tempJournal } from "./_worker.ts";
import { peaks } from "./_flow_paths.ts";

const workerMain = new URL("./_flow_worker.ts", import.meta.url).pathname;

interface Entry {
  run: string;
  customer: string;
  ev: "enter" | "exit";
  at: number;
  pid: number;
}

function spans(entries: Entry[]): { run: string; key: string; from: number; to: number }[] {
  const by = new Map<string, { run: string; key: string; from: number; to: number }>();
  for (const e of entries) {
    const s = by.get(e.run) ?? { run: e.run, key: e.customer, from: Infinity, to: -Infinity };
    if (e.ev === "enter") s.from = Math.min(s.from, e.at);
    else s.to = Math.max(s.to, e.at);
    by.set(e.run, s);
  }
  return [...by.values()];
}

for (const backend of await backends()) {
  Deno.test(
    `300 runs over 30 customers: one open per customer, five in all, while workers are killed with kill -9 (${backend})`,
    async () => {
      const flags = leaseFlags(1_500);
      await using server = await startTestServer(backend, { args: flags });
      // Postgres: a second replica on the same database; workers are spread over both.
      await using replica = backend === "postgres"
        ? await server.restart({ args: flags })
        : undefined;
      const urls = replica ? [server.url, replica.url] : [server.url];
      await using journal = await tempJournal();
      const workers: TestProcess[] = [];
      const spawn = async (i: number) => {
        const w = await spawnDeno(
          ["run", "-A", workerMain, urls[i % urls.length], journal.path],
          {},
          "worker ready",
          "flow worker",
        );
        workers.push(w);
        return w;
      };
      try {
        for (let i = 0; i < 3; i++) await spawn(i);
        const client = await Kagzi.connect(urls.at(-1)!);
        const runs = [];
        for (let n = 0; n < 300; n++) {
          // Ten runs of one customer in a row: without the per-customer limit they would run together.
          runs.push(
            client.start("flow-evidence").input({ customer: `cust-${Math.floor(n / 10)}`, n }),
          );
        }
        const started = await Promise.all(runs);
        // Kill a worker holding runs with kill -9 three times, starting a fresh one each time.
        let killed = 0;
        for (let k = 0; k < 3; k++) {
          await new Promise((r) => setTimeout(r, 1_500));
          // The oldest worker: it has been claiming runs all along.
          const target = workers[0];
          target.kill("SIGKILL");
          assert.equal((await target.status).signal, "SIGKILL");
          workers.splice(workers.indexOf(target), 1);
          killed++;
          await spawn(k + 1);
        }
        const outs = await Promise.all(started.map((r) => r.result({ timeout: "300s" })))
          .catch(async (err) => {
            // Say where it stands before failing: what the open runs wait for, the slots in use.
            const open = [];
            for (const r of started) {
              const w = await client.get(r.id);
              if (w.status !== "COMPLETED") open.push([w.id, w.status, w.waitingFor, w.attempts]);
            }
            console.log(
              JSON.stringify({ open, keys: (await client.flowControl("flow-evidence")).keys }),
            );
            throw err;
          });
        assert.deepEqual(outs, started.map((_, n) => n), "every run completed with its output");
        const text = await Deno.readTextFile(journal.path);
        const entries = text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Entry);
        const list = spans(entries);
        assert.equal(list.length, 300);
        assert.ok(list.every((s) => Number.isFinite(s.from) && Number.isFinite(s.to)));
        const p = peaks(list.map((s) => ({ key: s.key, enter: s.from, exit: s.to })));
        assert.equal(p.perKey, 1, "two runs of one customer were never open at once");
        assert.ok(p.total <= 5, `never more than five open runs (saw ${p.total})`);
        const pids = new Set(entries.map((e) => e.pid));
        console.log(
          `${backend}: ${killed} workers killed, ${pids.size} worker processes wrote evidence, ` +
            `peak ${p.total} open runs, peak ${p.perKey} per customer`,
        );
        const fc = await client.flowControl("flow-evidence");
        assert.deepEqual(fc.keys, [], "every slot was given back");
        if (backend === "postgres") {
          // Claims of two replicas never deadlocked (34 did in one run before the claim skipped
          // a waiter another transaction held): stopped servers' sessions have flushed their
          // statistics.
          await server.stop();
          await replica?.stop();
          const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
          try {
            const [{ deadlocks }] = await sql<{ deadlocks: number }[]>`
              select deadlocks::int from pg_stat_database where datname = current_database()`;
            assert.equal(deadlocks, 0, "no statement of the run deadlocked");
          } finally {
            await sql.end();
          }
        }
      } finally {
        for (const w of workers) {
          w.kill("SIGKILL");
          await w.status;
        }
      }
    },
  );
}
