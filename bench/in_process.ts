/**
 * The in-process setup, spawned by bench/main.ts: server, worker (maxConcurrent 50) and client
 * in this one process (`createServer()`, no network hop). Warm-up, W1, W2 and W8 as in the
 * three-process setup; prints `result {"rows":[…]}` on stdout, progress on stderr.
 *
 *   deno run -A --unstable-no-legacy-abort bench/in_process.ts \
 *     --backend postgres --database-url URL | --backend embedded --data-dir DIR \
 *     [--runs 2000] [--latency 200]
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { Kagzi, Worker } from "@kagzi/sdk";
import { createServer, loadConfig } from "../server/mod.ts";
import {
  type Backend,
  cpuMs,
  dbCounters,
  parseMetrics,
  peakRss,
  postgresCpuMs,
  type Row,
} from "./common.ts";
import { getEach } from "./get_each.ts";
import { latency, type Target, w1Rounds, warmUp } from "./workloads.ts";
import { workflows } from "./workflows.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string" },
    "database-url": { type: "string" },
    "data-dir": { type: "string" },
    runs: { type: "string", default: "2000" },
    latency: { type: "string", default: "200" },
    rounds: { type: "string", default: "1" },
    workloads: { type: "string", default: "w1,w2" },
  },
}).values;
const backend = args.backend as Backend;
const databaseUrl = args["database-url"];
if (backend === "postgres" ? !databaseUrl : !args["data-dir"]) {
  throw new Error(
    "in_process.ts: --backend postgres --database-url URL or embedded --data-dir DIR",
  );
}

const server = await createServer(loadConfig(
  backend === "postgres"
    ? { DATABASE_URL: databaseUrl, KAGZI_LOG_LEVEL: "warn" }
    : { KAGZI_DATA_DIR: args["data-dir"], KAGZI_LOG_LEVEL: "warn" },
));
const worker = await Worker.builder(server).maxConcurrent(50).workflows(workflows).build();
const done = worker.run();
const sql = databaseUrl ? postgres(databaseUrl, { max: 1, onnotice: () => {} }) : undefined;
const sumRpcs = () => Object.values(worker.stats.rpcs).reduce((a, b) => a + b, 0);
const metrics = async () => {
  const res = await server.fetch(new Request("http://127.0.0.1/metrics"));
  if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${await res.text()}`);
  return parseMetrics(await res.text());
};
const t: Target = {
  backend,
  setup: "in-process",
  label: " (in-process)",
  client: await Kagzi.connect(server),
  getEach: getEach(server),
  postgres: !!sql,
  analyze: sql && (() => sql.unsafe("analyze")),
  completed: () => Promise.resolve(worker.stats.completed),
  snapshot: async () => ({
    completed: worker.stats.completed,
    workerRpcs: sumRpcs(),
    ...await dbCounters(sql),
    ...await metrics(),
  }),
  // One process: its peak is in the server column.
  rss: () => ({ serverRssMiB: peakRss("self") }),
  cpu: () => ({
    process: cpuMs("self"),
    postgres: databaseUrl ? postgresCpuMs(new URL(databaseUrl).pathname.slice(1)) : 0,
  }),
};

const runs = Number(args.runs);
const workloads = new Set(args.workloads.split(","));
const rows: Row[] = [];
await warmUp(t, runs);
if (workloads.has("w1")) {
  rows.push(...await w1Rounds(t, runs, Number(args.rounds), workloads.has("w1get")));
}
if (workloads.has("w2")) rows.push(await latency(t, "W2 latency", Number(args.latency)));
if (workloads.has("w8")) {
  rows.push(await latency(t, "W8 sleep latency", Number(args.latency), "napper"));
}

await worker.shutdown();
await done;
await sql?.end({ timeout: 5 });
await server.close();
console.log(`result ${JSON.stringify({ rows })}`);
