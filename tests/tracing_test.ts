/**
 * OpenTelemetry across three processes: a client, the server and a worker export
 * OTLP/HTTP JSON (Deno's built-in exporter, OTEL_DENO=true) to a small collector in
 * this test; the start, the run, its steps and the server's work share one trace.
 */
import assert from "node:assert/strict";
import { backends } from "./_db.ts";
import { spawnDeno } from "./_process.ts";
import { startTestServer } from "./_server.ts";
import { waitFor } from "./_worker.ts";

interface Span {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  events: string[];
  /** Start and end, ns since the epoch. */
  start: bigint;
  end: bigint;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

const valueOf = (v: OtlpValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue);
const attrs = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** An OTLP/HTTP collector on a free port keeping every span it receives. */
function collector() {
  const spans: Span[] = [];
  /** Export requests that were not OTLP/HTTP JSON: the test asserts there are none. */
  const refused: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (new URL(req.url).pathname !== "/v1/traces") {
      await req.body?.cancel();
      return Response.json({});
    }
    const type = req.headers.get("content-type") ?? "";
    if (!/application\/json/.test(type)) {
      refused.push(type);
      await req.body?.cancel();
      return new Response("not JSON", { status: 415 });
    }
    const body = await req.json();
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)["service.name"]);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            service,
            name: s.name,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? "",
            attributes: attrs(s.attributes),
            events: (s.events ?? []).map((e: { name: string }) => e.name),
            start: BigInt(s.startTimeUnixNano ?? 0),
            end: BigInt(s.endTimeUnixNano ?? 0),
          });
        }
      }
    }
    return Response.json({});
  });
  return {
    spans,
    refused,
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

const otel = (endpoint: string, service: string) => ({
  OTEL_DENO: "true",
  OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_SERVICE_NAME: service,
  OTEL_BSP_SCHEDULE_DELAY: "200",
});

const all = await backends();
const backend = all.includes("postgres") ? "postgres" : all[0];

Deno.test(`a run's execution and steps join the trace of the start, across client, server and worker (${backend})`, async () => {
  const col = collector();
  try {
    await using server = await startTestServer(backend, {
      env: otel(col.url, "kagzi-server"),
    });
    const workerMain = new URL("./_worker_main.ts", import.meta.url).pathname;
    await using _worker = await spawnDeno(
      ["run", "-A", workerMain, server.url, "three-steps,sleeper"],
      otel(col.url, "kagzi-worker"),
      "worker ready",
      "worker",
    );
    const clientMain = new URL("./_trace_client.ts", import.meta.url).pathname;
    const startInClient = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", clientMain, server.url, ...args],
        env: { NO_COLOR: "1", ...otel(col.url, "kagzi-client") },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
      return JSON.parse(stdout.trim().split("\n").at(-1)!);
    };
    const { traceId, spanId: checkoutId, runId } = await startInClient("three-steps");

    const inTrace = () => col.spans.filter((s) => s.traceId === traceId);
    const named = (name: string) => inTrace().filter((s) => s.name === name);
    /** The server's statements that stored the step outputs, in the order they ran. */
    const stepStores = () =>
      inTrace().filter((s) =>
        s.service === "kagzi-server" && s.name.startsWith("db ") &&
        String(s.attributes["db.query.text"]).includes("insert into kagzi_steps")
      ).sort((a, b) => a.start < b.start ? -1 : 1);
    await waitFor(
      "the client's, worker's and server's spans, the three step outputs' statements among them",
      () =>
        named("kagzi.start three-steps").length === 1 &&
        named("kagzi.run three-steps").length === 1 &&
        inTrace().filter((s) => s.name.startsWith("kagzi.step ")).length === 3 &&
        stepStores().length === 3 &&
        // A request span is exported when it ends, after the statements it made.
        inTrace().filter((s) => s.name.startsWith("db ")).every((s) =>
          inTrace().some((p) => p.spanId === s.parentSpanId)
        ),
    );

    const [start] = named("kagzi.start three-steps");
    assert.equal(start.service, "kagzi-client");
    assert.equal(start.parentSpanId, checkoutId, "the start is a child of the caller's span");
    assert.equal(start.attributes["kagzi.run_id"], runId);

    const [run] = named("kagzi.run three-steps");
    assert.equal(run.service, "kagzi-worker");
    assert.equal(run.parentSpanId, start.spanId, "the execution is a child of the start");
    assert.equal(run.attributes["kagzi.run_id"], runId);
    assert.equal(run.attributes["kagzi.namespace"], "default");
    assert.equal(run.attributes["kagzi.workflow_type"], "three-steps");
    assert.equal(run.attributes["kagzi.attempt"], 1);
    assert.equal(run.attributes["kagzi.outcome"], "completed");

    const steps = inTrace().filter((s) => s.name.startsWith("kagzi.step "));
    assert.deepEqual(steps.map((s) => s.name).sort(), [
      "kagzi.step one",
      "kagzi.step three",
      "kagzi.step two",
    ]);
    // A step's span ends once its output is stored, also when the output was held back: the
    // first two are stored before the next step starts (CompleteStep), the last one with the
    // completion, which is in the run's trace too.
    const [one, two, three] = [...steps].sort((a, b) => a.start < b.start ? -1 : 1);
    const stores = stepStores();
    assert.ok(one.end >= stores[0].end, "step one ends after its output's statement");
    assert.ok(two.end >= stores[1].end, "step two ends after its output's statement");
    // Each store is its step's, though sent when the next step starts; the completion's is the
    // run's.
    const byId = new Map(inTrace().map((s) => [s.spanId, s]));
    const ownerOf = (s: Span | undefined): string | undefined =>
      !s || s.name.startsWith("kagzi.") ? s?.name : ownerOf(byId.get(s.parentSpanId));
    assert.deepEqual(stores.map(ownerOf), [
      "kagzi.step one",
      "kagzi.step two",
      "kagzi.run three-steps",
    ]);
    assert.ok(three.end >= stores[2].end, "step three ends after the completion carried it");
    for (const s of steps) assert.equal(s.attributes["kagzi.outcome"], undefined, s.name);
    for (const s of steps) {
      assert.equal(s.service, "kagzi-worker");
      assert.equal(s.parentSpanId, run.spanId, `${s.name} is a child of the run`);
      assert.equal(s.attributes["kagzi.run_id"], runId);
      assert.equal(s.attributes["kagzi.step.occurrence"], 1);
    }

    // The server's request spans continue the callers' spans; its statements are their children.
    const serverSpans = inTrace().filter((s) => s.service === "kagzi-server");
    const db = serverSpans.filter((s) => s.name.startsWith("db "));
    assert.ok(db.length > 0);
    for (const s of db) {
      assert.equal(
        byId.get(s.parentSpanId)?.service,
        "kagzi-server",
        `${s.name} has a server parent`,
      );
      assert.equal(s.attributes["db.system.name"], "postgresql");
    }
    const insert = db.find((s) =>
      String(s.attributes["db.query.text"]).includes("insert into kagzi_runs")
    );
    assert.ok(insert, "the start's insert is in the trace");

    // The stored trace context is returned with the run (Connect JSON, no SDK).
    const res = await fetch(`${server.url}/kagzi.v1.WorkflowService/GetWorkflow`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ namespace: "default", runId }),
    });
    const { workflow } = await res.json();
    assert.equal(workflow.traceparent, `00-${traceId}-${start.spanId}-01`);

    // A sleep suspends the run (longer than the worker's holdSleeps, 1 s): two executions, each
    // a span under the start, the first with the sleep and the suspension as events.
    const slept = await startInClient("sleeper", '{"ms":1500}');
    const spansOf = (name: string) =>
      col.spans.filter((s) => s.traceId === slept.traceId && s.name === name);
    await waitFor(
      "both executions of the sleeper",
      () => spansOf("kagzi.run sleeper").length === 2 && spansOf("kagzi.step after").length === 1,
    );
    const [sleepStart] = spansOf("kagzi.start sleeper");
    const executions = spansOf("kagzi.run sleeper");
    for (const e of executions) assert.equal(e.parentSpanId, sleepStart.spanId);
    const suspended = executions.find((e) => e.attributes["kagzi.outcome"] === "suspended");
    const completed = executions.find((e) => e.attributes["kagzi.outcome"] === "completed");
    assert.deepEqual(suspended?.events, ["kagzi.sleep", "kagzi.suspend"]);
    assert.equal(spansOf("kagzi.step after")[0].parentSpanId, completed?.spanId);
    assert.deepEqual(col.refused, [], "every export was OTLP/HTTP JSON");
  } finally {
    await col.close();
  }
});
