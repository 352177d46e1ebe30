/**
 * Load for database-fault tests: starts runs of "five-steps" at a steady pace through clients,
 * keeps every `result()` promise, and probes calls and health meanwhile, recording what
 * callers saw (error codes, health latency) for the test to assert on.
 */
import { Kagzi, KagziError } from "@kagzi/sdk";

/** One started run and what its `result()` settled with. */
export interface Started {
  id: string;
  workflowId: string;
  outcome: Promise<{ ok: true; value: unknown } | { ok: false; error: KagziError }>;
}

/** Starts `total` runs, one every `everyMs`, round-robin over `clients`. */
export async function startRuns(
  clients: Kagzi[],
  total: number,
  everyMs: number,
  startErrors: KagziError[],
): Promise<Started[]> {
  const started: Started[] = [];
  for (let i = 0; i < total; i++) {
    const client = clients[i % clients.length];
    try {
      const run = await client.start("five-steps").input({ stepMs: 20 });
      started.push({
        id: run.id,
        workflowId: run.workflowId,
        outcome: run.result({ timeout: "180s" }).then(
          (value) => ({ ok: true as const, value }),
          (error) => ({ ok: false as const, error: KagziError.from(error) }),
        ),
      });
    } catch (err) {
      startErrors.push(KagziError.from(err));
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return started;
}

/** What the probes saw. */
export interface ProbeReport {
  /** Error codes of calls made without SDK retries, with how often each was seen. */
  codes: Record<string, number>;
  /** Whether every UNAVAILABLE answer carried a retryAfter. */
  retryAfterAlways: boolean;
  /** Slowest HealthCheck and GET /readyz answers, ms. */
  healthMaxMs: number;
  readyzMaxMs: number;
  /** Answers of /readyz by HTTP status (0: no answer). */
  readyz: Record<number, number>;
  /** HealthCheck answers with database_ok false. */
  unhealthy: number;
}

/**
 * Every `everyMs` until stopped: a start and a get on each server through a client that does
 * not retry (so refusals are seen as callers get them), a HealthCheck and a GET /readyz.
 */
export function probe(urls: string[], everyMs = 150): { stop(): Promise<ProbeReport> } {
  const report: ProbeReport = {
    codes: {},
    retryAfterAlways: true,
    healthMaxMs: 0,
    readyzMaxMs: 0,
    readyz: {},
    unhealthy: 0,
  };
  let stopped = false;
  const loops = urls.map(async (url) => {
    const client = await Kagzi.connect(url, { retryTimeout: "0s" });
    while (!stopped) {
      for (
        const call of [
          () => client.start("probe-never-run").id(crypto.randomUUID()).then((r) => r.id),
          () => client.get(crypto.randomUUID()).then(() => "found"),
        ]
      ) {
        try {
          await call();
        } catch (err) {
          const e = KagziError.from(err);
          if (e.code === "NOT_FOUND") continue;
          report.codes[e.code] = (report.codes[e.code] ?? 0) + 1;
          if (e.code === "UNAVAILABLE" && !(e.retryAfter! > 0)) report.retryAfterAlways = false;
        }
      }
      let t = performance.now();
      try {
        const h = await client.health();
        if (!h.databaseOk) report.unhealthy++;
      } catch (err) {
        const code = `HealthCheck ${KagziError.from(err).code}`;
        report.codes[code] = (report.codes[code] ?? 0) + 1;
      }
      report.healthMaxMs = Math.max(report.healthMaxMs, performance.now() - t);
      t = performance.now();
      try {
        const res = await fetch(`${url}/readyz`);
        await res.body?.cancel();
        report.readyz[res.status] = (report.readyz[res.status] ?? 0) + 1;
      } catch {
        report.readyz[0] = (report.readyz[0] ?? 0) + 1;
      }
      report.readyzMaxMs = Math.max(report.readyzMaxMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return report;
    },
  };
}

/**
 * Starts one run (workflow id `recovery-…`) and waits for its result: how long a new run
 * takes end to end, ms.
 */
export async function timeOneRun(client: Kagzi): Promise<number> {
  const t = performance.now();
  const run = await client.start("five-steps").input({}).id(`recovery-${crypto.randomUUID()}`);
  await run.result({ timeout: "60s" });
  return Math.round(performance.now() - t);
}
