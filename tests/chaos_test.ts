/**
 * Chaos on real processes: two server replicas on one Postgres, three worker processes, 200
 * runs made of steps and durable sleeps. Meanwhile a worker is killed with kill -9 every few
 * seconds (and restarted), one replica is killed with kill -9 (and restarted on its port), and
 * one worker is frozen with SIGSTOP for longer than its lease (then SIGCONT).
 *
 * Asserts what DESIGN.md promises: no run lost, failed or completed twice; every run's output is
 * made of its own stored step outputs; and no step execution begins after that step's output
 * was stored (steps journal their start with Date.now(); kagzi_steps.finished_at is the
 * database's now() on the same machine).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { Kagzi } from "@kagzi/sdk";
import { freshDatabase, postgresIgnored } from "./_db.ts";
import type { TestProcess } from "./_process.ts";
import { type ServerProcess, startServer } from "./_server.ts";
import { leaseFlags, tempJournal, waitFor } from "./_worker.ts";
import { readEntries, startZombieWorker, workerIdOf } from "./_zombie.ts";

const total = 200;
const leaseMs = 2_000;
/** Runs are started over this long, and the chaos lasts at least as long. */
const chaosMs = 30_000;
/** How long the frozen worker stays frozen at least: past its lease; then until a takeover. */
const freezeMs = leaseMs + 3_000;
/** Clock slack between the worker processes and the database (same machine). */
const slackMs = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "chaos: 2 replicas, 3 workers, 200 runs; kill -9 of workers and a replica, a frozen worker: nothing lost, failed or completed twice, no step begins after its output was stored (postgres)",
  ignore: await postgresIgnored(),
  async fn() {
    await using db = await freshDatabase();
    await using journal = await tempJournal();
    const args = [...leaseFlags(leaseMs), "--poll-timeout-ms", "5000"];
    const replicas: ServerProcess[] = [await startServer({ databaseUrl: db.url, args })];
    replicas.push(await startServer({ databaseUrl: db.url, args }));
    const [a, b] = replicas;
    const sql = postgres(db.url, { max: 2, onnotice: () => {} });
    // Every change of a run to COMPLETED, as Postgres saw it (a test-only trigger).
    await sql.unsafe(`
      create table chaos_completions (run_id uuid not null, at timestamptz default clock_timestamp());
      create function chaos_audit() returns trigger language plpgsql as $$
        begin insert into chaos_completions (run_id) values (new.run_id); return new; end $$;
      create trigger chaos_audit after update of status on kagzi_runs for each row
        when (new.status = 'COMPLETED') execute function chaos_audit();`);

    let bUp = true;
    const addrOf = (i: number) => (i === 1 && bUp ? b.url : a.url);
    const spawn = async (i: number): Promise<TestProcess> => {
      for (let tries = 1;; tries++) {
        try {
          return await startZombieWorker(addrOf(i), journal.path);
        } catch (err) {
          if (tries >= 5) throw err;
          await sleep(500);
        }
      }
    };
    const workers: (TestProcess | undefined)[] = await Promise.all([0, 1, 2].map(spawn));
    const all: TestProcess[] = [...workers as TestProcess[]];
    const figures = { workerKills: 0, workerRestarts: 0, replicaKills: 0, replicaRestarts: 0 };
    const frozen = 2;
    let freeze = { heldRuns: [] as string[], ms: 0, pid: 0 };
    try {
      const client = await Kagzi.connect(a.url);
      const started = Date.now();
      const chaos = async () => {
        const tasks: Promise<unknown>[] = [];
        let next = 0;
        let frozenNow = false;
        // Replica B dies at 8 s and is back 2 s later; worker 2 freezes at 14 s.
        tasks.push((async () => {
          await sleep(8_000);
          bUp = false;
          b.kill("SIGKILL");
          await b.status;
          figures.replicaKills++;
          await sleep(2_000);
          replicas.push(
            await startServer({
              databaseUrl: db.url,
              args,
              port: b.port,
              grpcPort: b.grpcPort,
            }),
          );
          figures.replicaRestarts++;
          bUp = true;
        })());
        tasks.push((async () => {
          await sleep(14_000);
          frozenNow = true; // spared by the kill loop from now until it is thawed
          await waitFor("worker 2 to be up", () => workers[frozen] !== undefined, 60_000);
          const w = workers[frozen]!;
          const id = workerIdOf(w);
          // Freeze it while it holds runs (a freeze that catches it idle is undone at once).
          let held: { run_id: string; attempt: number }[] = [];
          let t = Date.now();
          for (let tries = 0; held.length === 0 && tries < 200; tries++) {
            if (tries) {
              w.kill("SIGCONT");
              await sleep(50);
            }
            w.kill("SIGSTOP");
            t = Date.now();
            held = await sql`
              select run_id::text, attempt from kagzi_runs
              where worker_id = ${id} and status = 'RUNNING'`;
          }
          // Frozen past its lease: every run it held is taken over (a later attempt, under
          // another worker or already done) while it cannot heartbeat; it stays frozen until then.
          await sleep(freezeMs - (Date.now() - t));
          const ids = held.map((r) => r.run_id);
          const takenOver = async () => {
            const now = await sql<{ run_id: string; attempt: number }[]>`
              select run_id::text, attempt from kagzi_runs where run_id = any(${ids}::uuid[])`;
            const before = new Map(held.map((r) => [r.run_id, r.attempt]));
            return now.filter((r) => r.attempt > before.get(r.run_id)!).length;
          };
          await waitFor(
            `the ${ids.length} runs the frozen worker held to be taken over`,
            async () => (await takenOver()) === ids.length,
            30_000,
          );
          w.kill("SIGCONT");
          freeze = { heldRuns: held.map((r) => r.run_id), ms: Date.now() - t, pid: w.pid };
          frozenNow = false;
        })());
        // A worker killed with kill -9 every ~3 s, round robin, and restarted at once.
        while (Date.now() - started < chaosMs) {
          await sleep(2_500 + Math.random() * 1_000);
          const i = next++ % 3;
          const victim = workers[i];
          if (!victim || (i === frozen && frozenNow)) continue;
          workers[i] = undefined;
          victim.kill("SIGKILL");
          await victim.status;
          figures.workerKills++;
          tasks.push(
            spawn(i).then((w) => {
              workers[i] = w;
              all.push(w);
              figures.workerRestarts++;
            }),
          );
        }
        await Promise.all(tasks);
      };
      const starting = (async () => {
        for (let i = 0; i < total; i++) {
          await sleep(chaosMs * 0.8 / total);
          const input = { sleepMs: 300 + Math.random() * 1_500, stepMs: Math.random() * 300 };
          await client.start("chaos").input(input).id(`chaos-${i}`);
        }
      })();
      await Promise.all([chaos(), starting]);

      const counts = async () =>
        Object.fromEntries(
          (await sql`select status, count(*)::int as n from kagzi_runs group by status`)
            .map((r) => [r.status, r.n]),
        );
      await waitFor("every run to end", async () => {
        const c = await counts();
        return (c.COMPLETED ?? 0) + (c.FAILED ?? 0) + (c.CANCELLED ?? 0) === total;
      }, 60_000).catch(async (err) => {
        throw new Error(`${err.message}: ${JSON.stringify(await counts())}`);
      });
      const elapsedMs = Date.now() - started;

      // What happened, counted from what Postgres stored and what the steps journaled.
      const runs = await sql<
        { run_id: string; workflow_id: string; status: string; attempt: number }[]
      >`
        select run_id::text, workflow_id, status, attempt from kagzi_runs`;
      const steps = await sql<{ run_id: string; name: string; output: Uint8Array; at: Date }[]>`
        select run_id::text, name, output, finished_at as at from kagzi_steps
        where kind = 'FUNCTION' and status = 'COMPLETED'`;
      const outputs = await sql<{ run_id: string; data: Uint8Array }[]>`
        select run_id::text, data from kagzi_payloads where kind = 'output'`;
      const completions = await sql<{ run_id: string; n: number }[]>`
        select run_id::text, count(*)::int as n from chaos_completions group by run_id`;
      const entries = readEntries(journal.path).filter((e) => e.kind === "step");
      const decode = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
      const stored = new Map(steps.map((s) => [`${s.run_id}/${s.name}`, s]));
      const late = entries.filter((e) => {
        const s = stored.get(`${e.run}/${e.step}`);
        return !s || e.at > s.at.getTime() + slackMs;
      });
      const attempts = new Map(runs.map((r) => [r.run_id, r.attempt]));
      console.log(JSON.stringify({
        runs: runs.length,
        ...figures,
        freeze: {
          ms: freeze.ms,
          heldRuns: freeze.heldRuns.length,
          heldRunsTakenOver: freeze.heldRuns.filter((id) => attempts.get(id)! > 1).length,
        },
        elapsedMs,
        runsTakenOver: runs.filter((r) => r.attempt > 1).length,
        stepExecutions: entries.length,
        storedSteps: steps.length,
        reExecutedSteps: entries.length - steps.length,
        stepsBegunAfterStored: late.length,
      }));

      assert.equal(runs.length, total, "one run per workflow id");
      assert.equal(new Set(runs.map((r) => r.workflow_id)).size, total);
      assert.deepEqual(runs.filter((r) => r.status !== "COMPLETED"), [], "0 lost, 0 failed");
      assert.equal(completions.length, total);
      assert.deepEqual(completions.filter((c) => c.n !== 1), [], "0 completed twice");
      assert.equal(steps.length, total * 3, "three stored steps per run");
      const outputOf = new Map(outputs.map((o) => [o.run_id, decode(o.data)]));
      for (const r of runs) {
        const own = ["a", "b", "c"].map((n) => decode(stored.get(`${r.run_id}/${n}`)!.output));
        assert.ok(own.every((p) => p.startsWith(`${r.run_id}:`)), `steps of ${r.run_id}`);
        assert.deepEqual(outputOf.get(r.run_id), { parts: own }, `output of ${r.run_id}`);
      }
      for (const e of late) {
        const s = stored.get(`${e.run}/${e.step}`);
        assert.fail(
          `step ${e.step} of ${e.run} began at ${e.at} on pid ${e.pid}${
            e.pid === freeze.pid ? " (the frozen worker)" : ""
          }, ${s ? `${e.at - s.at.getTime()} ms after its output was stored` : "never stored"}`,
        );
      }
      assert.ok(figures.workerKills >= 5, `only ${figures.workerKills} worker kills`);
      assert.ok(freeze.heldRuns.length > 0, "the frozen worker held runs when it froze");
    } finally {
      await sql.end({ timeout: 1 });
      for (const w of all) w.kill("SIGCONT");
      await Promise.all([...all, ...replicas].map((p) => p[Symbol.asyncDispose]()));
    }
  },
});
