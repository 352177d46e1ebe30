/**
 * A client process for the tracing test: `deno run -A tests/_trace_client.ts <addr> <type> [input]`
 * starts a run inside a "checkout" span, waits for its result and prints
 * `{"traceId","spanId","runId"}` of that span and run.
 */
import { trace } from "@opentelemetry/api";
import { Kagzi } from "@kagzi/sdk";

const [addr, type, input = '{"stepMs":1}'] = Deno.args;
const client = await Kagzi.connect(addr);
await trace.getTracer("checkout-app").startActiveSpan("checkout", async (span) => {
  const run = await client.start(type).input(JSON.parse(input));
  await run.result({ timeout: "30s" });
  const { traceId, spanId } = span.spanContext();
  console.log(JSON.stringify({ traceId, spanId, runId: run.id }));
  span.end();
});
