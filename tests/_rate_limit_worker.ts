/**
 * A worker process for the rate-limit tests: `deno run -A tests/_rate_limit_worker.ts <addr>`.
 * Workflow "limited" runs `input.steps` steps under the named limit `input.limit`, each writing
 * one journal line (KAGZI_TEST_JOURNAL) from inside the step when it really runs.
 */
import { type Context, Worker } from "@kagzi/sdk";

const journal = Deno.env.get("KAGZI_TEST_JOURNAL");

/** The journal line a step writes when its function runs. */
export interface LimitedEntry {
  run: string;
  step: string;
  pid: number;
  /** Date.now() when the step's function began. */
  at: number;
}

/** `steps` sequential steps under the named rate limit `limit`. */
export async function limited(ctx: Context, input: { steps: number; limit: string }) {
  const done: number[] = [];
  for (let i = 0; i < input.steps; i++) {
    done.push(
      await ctx.step(`call-${i}`).rateLimit(input.limit).run(async () => {
        const entry: LimitedEntry = {
          run: ctx.runId,
          step: `call-${i}`,
          pid: Deno.pid,
          at: Date.now(),
        };
        if (journal) {
          await Deno.writeTextFile(journal, JSON.stringify(entry) + "\n", { append: true });
        }
        return i;
      }),
    );
  }
  return done.length;
}

/** Workflow "rated": at most 10 runs begun per second per tenant (a run rate limit). */
export function rated(_ctx: Context, input: { tenant: string; i: number }) {
  return Promise.resolve(input.i);
}

if (import.meta.main) {
  const worker = await Worker.builder(Deno.args[0])
    .maxConcurrent(50)
    .workflow("limited", limited)
    .workflow("rated", rated, { rateLimit: { key: "input.tenant", limit: 10, period: "1s" } })
    .build();
  console.log(`worker ready ${worker.id}`);
  await worker.run();
}
