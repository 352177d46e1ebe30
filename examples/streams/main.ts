/**
 * A run that streams its answer as it is produced, like an LLM writing tokens:
 * `deno run -A examples/streams/main.ts` against a server on http://localhost:50051 (or
 * KAGZI_ADDR). The workflow writes each word of its answer to stream "tokens" and its progress
 * to stream "progress"; this program follows "tokens" live with the SDK and reads "progress"
 * as Server-Sent Events with plain fetch, as any HTTP tool could.
 */
import { defineWorkflow, Kagzi, Worker } from "@kagzi/sdk";

const addr = Deno.env.get("KAGZI_ADDR") ?? "http://localhost:50051";

const answer = defineWorkflow("answer", async (ctx, question: { text: string }) => {
  const tokens = ctx.stream<string>("tokens");
  const progress = ctx.stream<{ pct: number }>("progress");
  // A step's output is memoized: a replay after a crash does not "generate" again, and the
  // writes below land on the offsets they had, so no token is stored twice.
  const words = await ctx.step("generate").run(() =>
    `You asked: ${question.text} The answer is forty-two.`.split(" ")
  );
  for (const [i, word] of words.entries()) {
    await tokens.write(word);
    await progress.write({ pct: Math.round(((i + 1) / words.length) * 100) });
    await new Promise((r) => setTimeout(r, 20)); // as a model would take its time
  }
  await tokens.close();
  return words.join(" "); // "progress" closes when the run ends
});

const worker = await Worker.builder(addr).workflows([answer]).build();
const running = worker.run();
const client = await Kagzi.connect(addr);

const run = await client.start(answer).input({ text: "what is six times seven?" });
const words: string[] = [];
for await (const { value } of client.handle(run.id).stream<string>("tokens", { from: 0 })) {
  words.push(value); // a web page would append it to the answer shown so far
}
console.log("streamed:", words.join(" "));

// The same run's other stream over plain HTTP (text/event-stream), from the start.
const res = await fetch(`${addr}/v1/runs/${run.id}/streams/progress`);
const events = (await res.text()).split("\n\n").filter((e) => e.startsWith("id:"));
console.log("progress events:", events.length, "last:", events.at(-1)?.split("data: ")[1]);
console.log("latest progress:", JSON.stringify(await client.handle(run.id).latest("progress")));
console.log("result:", await run.result());

await worker.shutdown();
await running;
