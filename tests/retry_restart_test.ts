import assert from "node:assert/strict";
import { Kagzi } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { readJournal, startWorker, waitFor } from "./_worker.ts";

const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test(`scheduled retries are durable: they survive the worker's kill -9 between attempts (${backend})`, async () => {
  await using server = await startTestServer(backend, {
    args: ["--lease-ms", "2000", "--heartbeat-interval-ms", "500", "--tick-interval-ms", "200"],
  });
  const journal = await Deno.makeTempFile({ prefix: "kagzi_retry_" });
  try {
    const client = await Kagzi.connect(server.url);
    const first = await startWorker(server.url, { types: ["flaky"], journal });
    // Fails twice, 1.5 s apart at least, then succeeds: attempt 3 of 5.
    const run = await client.start("flaky").input({ failures: 2, attempts: 5, initialMs: 1_500 });
    // Wait for the first failure to be stored and the run released until its retry. (PENDING
    // alone is not enough: the run is PENDING before its first claim too.)
    await waitFor("the first attempt's failure", async () => {
      const attempts = await client.getStep(run.id, "flaky").catch(() => []);
      return attempts.length === 1 && attempts[0].status === "FAILED" &&
        (await client.get(run.id)).status === "PENDING";
    });
    assert.equal(readJournal(journal).length, 1, "the first attempt ran");
    assert.equal(
      (await client.get(run.id)).status,
      "PENDING",
      "a scheduled retry releases the run",
    );
    first.kill("SIGKILL");
    await first.status;
    // While no worker runs, the retry waits in the database.
    await sleep(500);
    const attempts = await client.getStep(run.id, "flaky");
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0].status, "FAILED");
    assert.ok(
      attempts[0].retryAt && attempts[0].retryAt.getTime() > attempts[0].finishedAt!.getTime(),
    );

    await using second = await startWorker(server.url, { types: ["flaky"], journal });
    assert.equal(await run.result({ timeout: "30s" }), 3);
    const runs = readJournal(journal);
    assert.equal(runs.length, 3);
    assert.equal(runs[0].pid, first.pid);
    assert.ok(runs.slice(1).every((e) => e.pid === second.pid));
    assert.ok(runs[1].at - runs[0].at >= 1_200, `backoff kept: ${runs[1].at - runs[0].at} ms`);
    const history = await client.getStep(run.id, "flaky");
    assert.deepEqual(history.map((a) => [a.attempt, a.status]), [[1, "FAILED"], [2, "FAILED"], [
      3,
      "COMPLETED",
    ]]);
    assert.match(history[1].error!.message, /failure 2/);
  } finally {
    await Deno.remove(journal).catch(() => {});
  }
});
