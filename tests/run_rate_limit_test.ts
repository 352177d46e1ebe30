/**
 * A workflow type's run rate limit (`rateLimit: { key, limit, period }`, taken in the claim) on
 * both backends with real server and worker processes: 10 runs begun per second per tenant over
 * 3 tenants with a backlog for more than 20 s — no sliding 1 s window holds more than 10 begun
 * runs of one tenant (as the server recorded their begin), the tenants together reach at least
 * 90% of the allowed rate, and a run held back says why (waitingFor rate_limit).
 */
import assert from "node:assert/strict";
import { Kagzi, type Workflow } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";
import { spawnDeno, type TestProcess } from "./_process.ts";
import { shortestSpan, slidingMax } from "./_windows.ts";

const workerMain = new URL("./_rate_limit_worker.ts", import.meta.url).pathname;
const tenants = ["t1", "t2", "t3"];
const perTenant = 220;
const windowS = 20;

function startWorker(addr: string): Promise<TestProcess> {
  return spawnDeno(["run", "-A", workerMain, addr], {}, "worker ready", "worker");
}

for (const backend of await backends()) {
  Deno.test(`a run rate limit of 10/s per tenant over 3 tenants for 20 s on ${backend}`, async () => {
    await using server = await startTestServer(backend);
    const client = await Kagzi.connect(server.url);
    const workers = [await startWorker(server.url), await startWorker(server.url)];
    try {
      await waitFor("the rate limit to be registered", async () => {
        const fc = await client.flowControl("rated").catch(() => undefined);
        return fc !== undefined && fc.registrations.length > 0;
      });
      const ids: string[] = [];
      for (let i = 0; i < perTenant; i++) {
        const batch = await Promise.all(
          tenants.map((tenant) => client.start("rated").input({ tenant, i }).id(`${tenant}/${i}`)),
        );
        ids.push(...batch.map((r) => r.id));
      }
      // A held-back run says why.
      let held: Workflow | undefined;
      await waitFor("a run held back by the rate limit", async () => {
        const page = await client.list().type("rated").status("PENDING").pageSize(50);
        held = page.workflows.find((w) => w.waitingFor?.kind === "rate_limit");
        return held !== undefined;
      });
      assert.equal(held!.waitingFor!.limit, 10);
      assert.equal(held!.waitingFor!.path, "input.tenant");
      assert.ok(tenants.includes(held!.waitingFor!.key));

      for (const until = Date.now() + 120_000;;) {
        let done = 0;
        for await (const _ of client.list().type("rated").status("COMPLETED").pageSize(1000)) {
          done++;
        }
        if (done === ids.length) break;
        assert.ok(Date.now() < until, `only ${done} of ${ids.length} runs completed`);
        await new Promise((r) => setTimeout(r, 1000));
      }

      const begun = new Map<string, number[]>(tenants.map((t) => [t, []]));
      for await (const w of client.list().type("rated").pageSize(1000)) {
        begun.get(w.workflowId.split("/")[0])!.push(w.startedAt!.getTime());
      }
      let inWindow = 0;
      for (const [tenant, times] of begun) {
        assert.equal(times.length, perTenant);
        const t0 = Math.min(...times);
        inWindow += times.filter((t) => t < t0 + windowS * 1000).length;
        console.log(
          `${backend} ${tenant}: most begun in 1 s ${
            slidingMax(times, 1000)
          }, shortest span of 11 ${shortestSpan(times, 11)} ms, begun in the first ${windowS} s ${
            times.filter((t) => t < t0 + windowS * 1000).length
          }`,
        );
        const sorted = [...times].sort((a, b) => a - b);
        const gaps = sorted.slice(1).map((t, i) => t - sorted[i]).sort((a, b) => a - b);
        if (tenant === "t1") {
          console.log(sorted.slice(1, 80).map((t, i) => t - sorted[i]).join(" "));
        }
        console.log(
          `gaps p10 ${gaps[Math.floor(gaps.length * 0.1)]} p50 ${
            gaps[Math.floor(gaps.length / 2)]
          } p90 ${gaps[Math.floor(gaps.length * 0.9)]} max ${gaps.at(-1)}`,
        );
        assert.ok(slidingMax(times, 1000) <= 10, `${tenant}: at most 10 begun in any 1 s`);
      }
      const allowed = tenants.length * 10 * windowS;
      console.log(
        `${backend}: ${inWindow} of ${allowed} allowed (${(100 * inWindow / allowed).toFixed(1)}%)`,
      );
      assert.ok(inWindow >= 0.9 * allowed, `aggregate ${inWindow} ≥ 90% of ${allowed}`);
    } finally {
      for (const w of workers) await w[Symbol.asyncDispose]();
    }
  });
}
