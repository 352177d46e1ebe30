/**
 * Named step rate limits (RateLimitService, `ctx.step(n).rateLimit(name)`) on both backends with
 * real server and worker processes: one limit of 5/s shared by 3 worker processes, one of them
 * killed with SIGKILL while steps wait on the limit — no 1 s window holds more than 5 step
 * executions (as the steps themselves recorded), no attempt is recorded as failed, every run
 * completes.
 */
import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { leaseFlags, tempJournal, waitFor } from "./_worker.ts";
import { spawnDeno, type TestProcess } from "./_process.ts";
import type { LimitedEntry } from "./_rate_limit_worker.ts";
import { shortestSpan, slidingMax } from "./_windows.ts";

const workerMain = new URL("./_rate_limit_worker.ts", import.meta.url).pathname;

function startLimitedWorker(addr: string, journal: string): Promise<TestProcess> {
  return spawnDeno(
    ["run", "-A", workerMain, addr],
    { KAGZI_TEST_JOURNAL: journal },
    "worker ready",
    "worker",
  );
}

function readEntries(path: string): LimitedEntry[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const runs = 15;
const stepsPerRun = 3;

for (const backend of await backends()) {
  Deno.test(`a step limit of 5/s is shared by 3 worker processes, one killed, on ${backend}`, async () => {
    await using server = await startTestServer(backend, { args: leaseFlags(2000) });
    await using journal = await tempJournal();
    const client = await Kagzi.connect(server.url);
    await client.setRateLimit("api", { limit: 5, period: "1s" });
    const workers = await Promise.all(
      [0, 1, 2].map(() => startLimitedWorker(server.url, journal.path)),
    );
    try {
      const started = await Promise.all(
        Array.from(
          { length: runs },
          () => client.start("limited").input({ steps: stepsPerRun, limit: "api" }),
        ),
      );
      // A third of the steps ran: the rest wait on the limit, out of any worker. Kill one.
      await waitFor("15 step executions", () => readEntries(journal.path).length >= 15, 60_000);
      const waiting = (await client.list().status("PENDING").pageSize(100)).workflows
        .filter((w) => w.startedAt !== undefined);
      assert.ok(waiting.length > 0, "runs wait on the limit, PENDING after they began");
      workers[0].kill("SIGKILL");
      await workers[0].status;

      for (const run of started) assert.equal(await run.result({ timeout: "2m" }), stepsPerRun);

      const entries = readEntries(journal.path);
      const times = entries.map((e) => e.at);
      const perStep = new Set(entries.map((e) => `${e.run}/${e.step}`));
      assert.equal(perStep.size, runs * stepsPerRun, "every step ran");
      assert.ok(new Set(entries.map((e) => e.pid)).size >= 2, "steps ran on several workers");
      console.log(
        `${backend}: ${entries.length} executions in ${
          ((Math.max(...times) - Math.min(...times)) / 1000).toFixed(1)
        } s; shortest span of 6 consecutive: ${shortestSpan(times, 6)} ms; most in 1 s: ${
          slidingMax(times, 1000)
        }`,
      );
      // The limiter grants by the database's clock; each step records when it began on its
      // worker, its grant's answer and a call later. A step that waited for its token on its
      // worker asks again right when the next token is due, so grants one period apart can be
      // recorded a few ms less apart (995 ms seen once in CI): 50 ms of that jitter is allowed,
      // while a limit of 6/s would put six within 833 ms.
      assert.ok(slidingMax(times, 950) <= 5, "never more than 5 step executions in 1 s");
      for (const run of started) {
        const attempts = await client.listSteps(run.id);
        assert.deepEqual(
          attempts.filter((a) => a.status !== "COMPLETED"),
          [],
          "no attempt failed or is left over",
        );
      }
    } finally {
      for (const w of workers) await w[Symbol.asyncDispose]();
    }
  });
}
