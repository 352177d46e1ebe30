/**
 * A Kagzi worker and client program in plain JavaScript for Node and Bun, importing the SDK as an
 * npm-style package (`@kagzi/sdk`, the build of `scripts/build_node.ts`). Run by
 * `tests/runtimes_test.ts`:
 *
 *   node program.mjs worker <url>   registers "runtime-trip" and "runtime-slow", runs until SIGTERM
 *   node program.mjs client <url> [protocol]   starts a "runtime-trip", signals it once it waits,
 *                                              prints the result (protocol: connect, grpc-web, grpc)
 */
import { Kagzi, Worker } from "@kagzi/sdk";

const runtime = globalThis.Bun ? `bun ${globalThis.Bun.version}` : `node ${process.versions.node}`;
const [mode, url, protocol = "connect"] = process.argv.slice(2);

/** Two steps around a durable sleep and a signal wait. */
async function trip(ctx, input) {
  const first = await ctx.step("first").run(() => ({ runtime, pid: process.pid }));
  await ctx.sleep("nap", input.sleep);
  const go = await ctx.waitForSignal("go", { timeout: "60s" });
  const second = await ctx.step("second").run(() => `${go.word}, from ${runtime}`);
  return { first, second };
}

/** One step that takes `ms`; it prints when it starts so a test can stop the worker mid-step. */
async function slow(ctx, input) {
  return await ctx.step("slow").run(async () => {
    console.log(`step started ${ctx.runId}`);
    await new Promise((r) => setTimeout(r, input.ms));
    console.log(`step finished ${ctx.runId}`);
    return { pid: process.pid, runtime };
  });
}

if (mode === "worker") {
  const worker = await Worker.builder(url)
    .workflows({ "runtime-trip": trip, "runtime-slow": slow })
    .shutdownTimeout("30s")
    .build();
  console.log(`worker ready ${worker.id} on ${runtime}`);
  await worker.run(); // until SIGTERM or SIGINT: in-flight steps finish first
  console.log(`worker stopped ${JSON.stringify({ completed: worker.stats.completed })}`);
} else if (mode === "client") {
  const client = await Kagzi.connect(url, { protocol });
  const run = await client.start("runtime-trip").input({ sleep: "300ms" });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const w = await client.get(run.id);
    if (w.waits.some((x) => x.kind === "signal" && x.name === "go")) break;
    if (Date.now() > deadline) throw new Error(`run never waited for "go": ${w.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await client.signal(run.id, "go", { word: "hello" });
  const output = await run.result({ timeout: "60s" });
  const w = await client.get(run.id);
  console.log(
    `result ${JSON.stringify({ client: runtime, protocol, id: run.id, status: w.status, output })}`,
  );
} else {
  console.error("usage: program.mjs worker|client <url>");
  process.exit(2);
}
