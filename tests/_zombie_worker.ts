/**
 * A worker process for the zombie and chaos tests:
 * `deno run -A tests/_zombie_worker.ts <addr>`, journal path in KAGZI_TEST_JOURNAL.
 *
 * Every real execution of a step appends `{run, step, pid, at}` to the journal as the first
 * thing the step does (`at` is Date.now(), on the same clock as the database's now() since
 * all processes share one machine), so a test can compare when each step began with when its
 * output was stored (kagzi_steps.finished_at).
 */
import { type Context, Worker } from "@kagzi/sdk";

const journal = Deno.env.get("KAGZI_TEST_JOURNAL");

/** Appends one journal line (steps, and markers of the workflow body). */
function record(ctx: Context, step: string, kind = "step"): void {
  if (!journal) return;
  const line = { kind, run: ctx.runId, step, pid: Deno.pid, at: Date.now() };
  Deno.writeTextFileSync(journal, JSON.stringify(line) + "\n", { append: true });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A step that journals its start, waits `ms` (ignoring aborts) and returns a fresh nonce. */
const nonceStep = (ctx: Context, name: string, ms: number) =>
  ctx.step(name).run(async () => {
    record(ctx, name);
    if (ms) await delay(ms);
    return `${ctx.runId}:${name}:${crypto.randomUUID()}`;
  });

/**
 * Step one, then a plain (not durable) wait of `pauseMs` in the workflow body, then steps two
 * and three: a worker frozen during the wait wakes up between two steps.
 */
async function pause(ctx: Context, input: { pauseMs: number; stepMs?: number }) {
  const parts = [await nonceStep(ctx, "one", input.stepMs ?? 0)];
  if (input.pauseMs) {
    await delay(input.pauseMs);
    record(ctx, "resumed", "marker");
  }
  parts.push(await nonceStep(ctx, "two", input.stepMs ?? 0));
  parts.push(await nonceStep(ctx, "three", input.stepMs ?? 0));
  return { parts };
}

/** Three steps separated by two durable sleeps; the output is made of the steps' outputs. */
async function chaos(ctx: Context, input: { sleepMs: number; stepMs: number }) {
  const parts: string[] = [];
  for (const name of ["a", "b", "c"]) {
    parts.push(await nonceStep(ctx, name, input.stepMs));
    if (name !== "c") await ctx.sleep(`nap-${name}`, input.sleepMs);
  }
  return { parts };
}

const [addr] = Deno.args;
const worker = await Worker.builder(addr)
  .maxConcurrent(Number(Deno.env.get("KAGZI_TEST_MAX_CONCURRENT") ?? 50))
  .workflows({ pause, chaos })
  .build();
// SIGUSR1 prints what the worker did so far (tests wait on it).
Deno.addSignalListener("SIGUSR1", () => console.log(`stats ${JSON.stringify(worker.stats)}`));
console.log(`worker ready ${worker.id}`);
await worker.run();
console.log(`worker stopped ${JSON.stringify(worker.stats)}`);
