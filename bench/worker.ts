/**
 * The benchmark's worker process: `deno run -A bench/worker.ts <addr> [maxConcurrent] [workers]`
 * (maxConcurrent defaults to 50; `workers`, 1 by default, is how many workers of maxConcurrent
 * slots each this process runs: W6's control phase). Prints its workers' stats, added up, on
 * SIGUSR1 and when it stops (SIGTERM).
 */
import { Worker } from "@kagzi/sdk";
import { workflows } from "./workflows.ts";

const maxConcurrent = Number(Deno.args[1] ?? 50);
if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
  throw new Error(`maxConcurrent must be a positive integer, not ${Deno.args[1]}`);
}
const count = Number(Deno.args[2] ?? 1);
if (!Number.isInteger(count) || count < 1) {
  throw new Error(`workers must be a positive integer, not ${Deno.args[2]}`);
}
const workers = await Promise.all(Array.from({ length: count }, () =>
  Worker.builder(Deno.args[0])
    .maxConcurrent(maxConcurrent)
    .workflows(workflows)
    // W7: bench3 under flow control (one open run per key, 50 in all).
    .workflow("bench3-limited", workflows.bench3, {
      concurrency: [{ key: "input.key", limit: 1 }, { limit: 50 }],
    })
    .build()));
const report = () => {
  const total = { completed: 0, failed: 0, rpcs: {} as Record<string, number> };
  for (const { stats } of workers) {
    total.completed += stats.completed;
    total.failed += stats.failed;
    for (const [name, n] of Object.entries(stats.rpcs)) {
      total.rpcs[name] = (total.rpcs[name] ?? 0) + n;
    }
  }
  console.log(`stats ${JSON.stringify(total)}`);
};
// Listen before saying ready: SIGUSR1 without a listener ends the process.
Deno.addSignalListener("SIGUSR1", report);
const done = Promise.all(workers.map((w) => w.run()));
console.log("worker ready");
await done;
report();
