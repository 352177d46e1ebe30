/**
 * Soak: steady load for a long time (default 20 min) on a server process and a worker process,
 * sampling each process's resident memory (VmRSS) and open file descriptors every
 * `sampleSeconds`. After the warm-up (the first fifth), both must stay flat: the report gives
 * the curve and the growth per hour fitted over the rest. `deno task bench --setups soak`
 * (`--soak-minutes`, `--soak-rate`); not part of CI.
 */
import { Kagzi } from "@kagzi/sdk";
import { type Backend, freshDatabase, round, sleep } from "./common.ts";
import { startServer, startWorker, stop } from "./proc.ts";

/** One sample of both processes. */
export interface SoakSample {
  /** Seconds since the load began. */
  t: number;
  serverRssMiB: number;
  serverFds: number;
  workerRssMiB: number;
  workerFds: number;
  /** Runs completed so far. */
  completed: number;
}

/** The soak's outcome. */
export interface SoakReport {
  backend: Backend;
  minutes: number;
  ratePerSecond: number;
  completed: number;
  samples: SoakSample[];
  /** Growth per hour after warm-up, fitted by least squares. */
  serverRssMiBPerHour: number;
  workerRssMiBPerHour: number;
  serverFdsPerHour: number;
  workerFdsPerHour: number;
}

function rssMiB(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmRSS:\s+(\d+) kB/);
    return m ? round(Number(m[1]) / 1024, 1) : 0;
  } catch {
    return 0;
  }
}

function fds(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return 0;
  }
}

/** Least-squares slope of `y` over `t` (seconds), per hour. */
function perHour(samples: SoakSample[], y: (s: SoakSample) => number): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const my = samples.reduce((a, s) => a + y(s), 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.t - mt) * (y(s) - my);
    den += (s.t - mt) ** 2;
  }
  return den ? round((num / den) * 3600, 1) : 0;
}

/** Runs the soak on `backend` with a fresh database. */
export async function soak(
  backend: Backend,
  options: { minutes: number; ratePerSecond: number; sampleSeconds?: number },
): Promise<SoakReport> {
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dataDir = db ? "" : await Deno.makeTempDir({ prefix: "kagzi_bench_soak_" });
  const server = await startServer(db ? { databaseUrl: db.url } : { dataDir });
  const worker = startWorker(server.url);
  await worker.ready;
  const samples: SoakSample[] = [];
  let completed = 0;
  let stopped = false;
  try {
    const client = await Kagzi.connect(server.url);
    const began = performance.now();
    const until = began + options.minutes * 60_000;
    const inFlight = new Set<Promise<void>>();
    const load = (async () => {
      for (let i = 0; performance.now() < until; i++) {
        const due = began + (i * 1000) / options.ratePerSecond;
        if (due > performance.now()) await sleep(due - performance.now());
        const p: Promise<void> = client.start("bench3").then((run) => run.result())
          .then(() => void completed++)
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await Promise.all(inFlight);
    })();
    const sampleMs = (options.sampleSeconds ?? 30) * 1000;
    const sampler = (async () => {
      while (!stopped) {
        samples.push({
          t: round((performance.now() - began) / 1000, 0),
          serverRssMiB: rssMiB(server.child.pid),
          serverFds: fds(server.child.pid),
          workerRssMiB: rssMiB(worker.proc.child.pid),
          workerFds: fds(worker.proc.child.pid),
          completed,
        });
        console.error(`soak ${JSON.stringify(samples.at(-1))}`);
        await sleep(Math.min(sampleMs, Math.max(0, until - performance.now()) + 1));
        if (performance.now() >= until) break;
      }
    })();
    await load;
    stopped = true;
    await sampler;
  } finally {
    await stop(worker.proc);
    await stop(server);
    await db?.drop();
    if (dataDir) await Deno.remove(dataDir, { recursive: true });
  }
  const steady = samples.filter((s) => s.t >= options.minutes * 60 / 5);
  return {
    backend,
    minutes: options.minutes,
    ratePerSecond: options.ratePerSecond,
    completed,
    samples,
    serverRssMiBPerHour: perHour(steady, (s) => s.serverRssMiB),
    workerRssMiBPerHour: perHour(steady, (s) => s.workerRssMiB),
    serverFdsPerHour: perHour(steady, (s) => s.serverFds),
    workerFdsPerHour: perHour(steady, (s) => s.workerFds),
  };
}
