/**
 * Stream figures: `deno run -A bench/streams.ts [--backend postgres,embedded]`. A server process,
 * a worker process writing a run's stream (bench/workflows.ts `streamWriter`), readers in this
 * process over Connect server streaming (`handle.stream`):
 *
 *   latency      one reader; 500 values written one at a time, 5 ms apart: write-to-reader
 *                latency p50/p99 (the value carries its write time; one machine, one clock)
 *   1 reader     5,000 values of ~100 bytes written at once: values/s reaching the reader,
 *                from the run's start to its last value
 *   100 readers  the same with 100 readers following the one stream: values/s per reader and
 *                in total (deliveries), and the latency p50/p99 over every delivery
 */
import { parseArgs } from "node:util";
import { Kagzi } from "@kagzi/sdk";
import { type Backend, freshDatabase, postgresReachable, round } from "./common.ts";
import { startServer, startWorker, stop } from "./proc.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "" },
    values: { type: "string", default: "5000" },
  },
}).values;
const n = Number(args.values);

type Value = { i: number; t: number };

/** Follows the run's stream; the latency (ms) of each value and when the last one came. */
async function follow(client: Kagzi, runId: string): Promise<{ lat: number[]; last: number }> {
  const lat: number[] = [];
  let expect = 0;
  for await (const e of client.handle(runId).stream<Value>("s")) {
    if (e.offset !== expect++) throw new Error(`offset ${e.offset}, expected ${expect - 1}`);
    lat.push(Date.now() - e.value.t);
  }
  return { lat, last: performance.now() };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function measure(client: Kagzi, input: object, readers: number, values: number) {
  const t0 = performance.now();
  const run = await client.start("stream-writer").input(input);
  const got = await Promise.all(Array.from({ length: readers }, () => follow(client, run.id)));
  await run.result();
  for (const g of got) {
    if (g.lat.length !== values) throw new Error(`a reader got ${g.lat.length} of ${values}`);
  }
  const end = Math.max(...got.map((g) => g.last));
  const all = got.flatMap((g) => g.lat);
  const perReader = values / ((end - t0) / 1000);
  return {
    p50: pct(all, 50),
    p99: pct(all, 99),
    perReader: round(perReader, 0),
    total: round(perReader * readers, 0),
  };
}

async function bench(backend: Backend) {
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await Deno.makeTempDir({ prefix: "kagzi_bench_streams_" });
  const server = await startServer(db ? { databaseUrl: db.url } : { dataDir });
  const { proc: worker, ready } = startWorker(server.url, 50);
  await ready;
  try {
    const client = await Kagzi.connect(server.url);
    await measure(client, { n: 200, burst: true, pad: 80 }, 1, 200); // warm-up
    const lat = await measure(client, { n: 500, pauseMs: 5 }, 1, 500);
    console.log(`${backend}  latency, 1 reader: p50 ${lat.p50} ms, p99 ${lat.p99} ms`);
    const one = await measure(client, { n, burst: true, pad: 80 }, 1, n);
    console.log(
      `${backend}  ${n} values, 1 reader: ${one.perReader} values/s (latency p50 ${one.p50} ms, p99 ${one.p99} ms)`,
    );
    const many = await measure(client, { n, burst: true, pad: 80 }, 100, n);
    console.log(
      `${backend}  ${n} values, 100 readers: ${many.perReader} values/s per reader, ${many.total} deliveries/s (latency p50 ${many.p50} ms, p99 ${many.p99} ms)`,
    );
  } finally {
    await stop(worker);
    await stop(server);
    await db?.drop();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
}

const chosen = args.backend
  ? args.backend.split(",") as Backend[]
  : [...(await postgresReachable() ? ["postgres" as const] : []), "embedded" as const];
for (const b of chosen) await bench(b);
