/** Shared by the bulk operation tests: FAILED runs made by a real worker, and counting runs. */
import { type Context, type Kagzi, NonRetryableError, Worker } from "@kagzi/sdk";
import { waitFor } from "./_worker.ts";

/** Real executions of "flaky" per workflow id; it fails while `flaky.failing` is set. */
export const flaky: { failing: boolean; executions: Map<string, number> } = {
  failing: true,
  executions: new Map(),
};

// deno-lint-ignore require-await
async function flakyFn(_ctx: Context, input: { id: string }): Promise<string> {
  flaky.executions.set(input.id, (flaky.executions.get(input.id) ?? 0) + 1);
  if (flaky.failing) throw new NonRetryableError("failing on purpose");
  return input.id;
}

/** A worker for "flaky" on `url`; stop it with `shutdown()`. */
export async function flakyWorker(url: string): Promise<{ shutdown(): Promise<void> }> {
  const worker = await Worker.builder(url).maxConcurrent(50).logger(false)
    .workflow("flaky", flakyFn).build();
  const running = worker.run();
  return {
    async shutdown() {
      await worker.shutdown();
      await running;
    },
  };
}

/** How many runs have `status` (and type `type`). */
export async function count(
  client: Kagzi,
  status: "FAILED" | "COMPLETED" | "PENDING" | "PAUSED" | "CANCELLED",
  type = "flaky",
): Promise<number> {
  return (await client.list().status(status).type(type).pageSize(1).withTotal()).totalCount ?? 0;
}

/** Starts `n` runs of "flaky" that fail, and waits until all have FAILED. */
export async function failedRuns(url: string, client: Kagzi, n: number): Promise<void> {
  flaky.failing = true;
  const worker = await flakyWorker(url);
  try {
    for (let i = 0; i < n; i += 100) {
      await Promise.all(
        Array.from(
          { length: Math.min(100, n - i) },
          (_, j) => client.start("flaky").input({ id: `f-${i + j}` }).id(`f-${i + j}`),
        ),
      );
    }
    await waitFor(`${n} runs to fail`, async () => (await count(client, "FAILED")) === n, 120_000);
  } finally {
    await worker.shutdown();
  }
  flaky.failing = false;
}
