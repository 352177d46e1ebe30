/** A worker process for tests: `deno run -A tests/_worker_main.ts <addr> [types,...]`. */
import { Worker } from "@kagzi/sdk";
import { workflows } from "./_workflows.ts";

const [addr, types = Object.keys(workflows).join(",")] = Deno.args;
const builder = Worker.builder(addr)
  .namespace(Deno.env.get("KAGZI_TEST_NAMESPACE") ?? "default")
  .maxConcurrent(Number(Deno.env.get("KAGZI_TEST_MAX_CONCURRENT") ?? 50))
  .shutdownTimeout(Deno.env.get("KAGZI_TEST_SHUTDOWN_TIMEOUT") ?? "30s")
  .holdSleeps(Deno.env.get("KAGZI_TEST_HOLD_SLEEPS") ?? "1s");
for (const t of types.split(",")) builder.workflow(t, workflows[t]);
const worker = await builder.build();
console.log(`worker ready ${worker.id}`);
await worker.run();
console.log(`worker stopped ${JSON.stringify(worker.stats)}`);
