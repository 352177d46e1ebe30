/**
 * The benchmark's worker process: `deno run -A bench/worker.ts <addr> [maxConcurrent]`
 * (maxConcurrent defaults to 50). Prints its stats on SIGUSR1 and when it stops (SIGTERM).
 */
import { Worker } from "@kagzi/sdk";
import { workflows } from "./workflows.ts";

const maxConcurrent = Number(Deno.args[1] ?? 50);
if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
  throw new Error(`maxConcurrent must be a positive integer, not ${Deno.args[1]}`);
}
const worker = await Worker.builder(Deno.args[0])
  .maxConcurrent(maxConcurrent)
  .workflows(workflows)
  // W7: bench3 under flow control (one open run per key, 50 in all).
  .workflow("bench3-limited", workflows.bench3, {
    concurrency: [{ key: "input.key", limit: 1 }, { limit: 50 }],
  })
  .build();
const report = () => {
  const s = worker.stats;
  console.log(
    `stats ${JSON.stringify({ completed: s.completed, failed: s.failed, rpcs: s.rpcs })}`,
  );
};
// Listen before saying ready: SIGUSR1 without a listener ends the process.
Deno.addSignalListener("SIGUSR1", report);
const done = worker.run();
console.log("worker ready");
await done;
report();
