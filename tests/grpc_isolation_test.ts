/**
 * The native gRPC listener runs in its own process (server/http/grpc_listener.ts), so
 * whatever happens to it — a crash of Deno's node:http2 server, a kill -9, hostile
 * HTTP/2 clients — the server and its Connect port keep serving, and the listener
 * is restarted on the same port.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  RegisterRequestSchema,
} from "@kagzi/proto";
import { type Context, Kagzi, Worker } from "@kagzi/sdk";
import { backends } from "./_db.ts";
import { grpcUnary } from "./_grpc.ts";
import { startTestServer, type TestServer } from "./_server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const backend = (await backends()).includes("postgres") ? "postgres" : "embedded";

/** Pids of the processes running grpc_listener.ts whose parent is `serverPid`. */
function listenerPids(serverPid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== serverPid) continue;
      if (Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes("grpc_listener.ts")) {
        pids.push(Number(entry.name));
      }
    } catch { /* the process is gone */ }
  }
  return pids;
}

const alive = (pid: number) => {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
};

/** Waits (at most 20 s) until `fn` returns something, and returns it. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One HealthCheck over native gRPC on a fresh channel. */
async function grpcHealthy(server: TestServer): Promise<true | undefined> {
  const client = new grpc.Client(
    `127.0.0.1:${server.grpcPort}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const res = await grpcUnary(
      client,
      "/kagzi.v1.AdminService/HealthCheck",
      HealthCheckRequestSchema,
      HealthCheckResponseSchema,
      create(HealthCheckRequestSchema, {}),
    );
    return res.healthy ? true : undefined;
  } finally {
    client.close();
  }
}

const chain = async (ctx: Context, input: { n: number }) => {
  let total = input.n;
  for (const name of ["a", "b", "c"]) {
    total = await ctx.step(name).run(() => total + 1);
    await ctx.sleep(`after-${name}`, "20ms");
  }
  return total;
};

/**
 * Starts a worker and a loop that runs `chain` workflows over Connect one after
 * another until stopped; resolves with how many completed, throwing on any failure.
 */
async function connectTraffic(server: TestServer) {
  const worker = await Worker.builder(server.url).workflows({ chain }).build();
  const running = worker.run();
  const client = await Kagzi.connect(server.url);
  let stop = false;
  const loop = (async () => {
    let done = 0;
    while (!stop) {
      const run = await client.start("chain").input({ n: done });
      assert.equal(await run.result({ timeout: "20s" }), done + 3);
      done++;
    }
    return done;
  })();
  return {
    async stop(): Promise<number> {
      stop = true;
      try {
        return await loop;
      } finally {
        await worker.shutdown();
        await running;
      }
    },
  };
}

Deno.test(`kill -9 of the native gRPC listener: Connect keeps serving, gRPC comes back (${backend})`, async () => {
  const server = await startTestServer(backend);
  let lastPid = 0;
  try {
    const traffic = await connectTraffic(server);
    assert.equal(await grpcHealthy(server), true);
    const killed: number[] = [];
    for (let round = 0; round < 3; round++) {
      const [pid] = listenerPids(server.pid);
      assert.ok(pid, "the server runs a listener process");
      assert.ok(!killed.includes(pid), "each listener is a new process");
      Deno.kill(pid, "SIGKILL");
      killed.push(pid);
      await eventually("the listener to be restarted and answer native gRPC", async () => {
        const [now] = listenerPids(server.pid);
        return now && now !== pid ? await grpcHealthy(server) : undefined;
      });
    }
    lastPid = listenerPids(server.pid)[0];

    // A workflow started over native gRPC (the SDK's grpc transport) runs to completion.
    const viaGrpc = await Kagzi.connect(server.grpcUrl, { protocol: "grpc" });
    const run = await viaGrpc.start("chain").input({ n: 100 });
    assert.equal(await run.result({ timeout: "20s" }), 103);

    const completed = await traffic.stop();
    assert.ok(completed >= 3, `Connect ran ${completed} workflows while the listener was killed`);
    assert.ok(alive(server.pid), "the server process is alive");
    for (const pid of killed) {
      assert.match(
        server.output(),
        new RegExp(`native gRPC listener \\(pid ${pid}\\) exited \\(signal SIGKILL\\); restarting`),
      );
    }
  } finally {
    await server[Symbol.asyncDispose]();
  }
  // The server was killed with SIGKILL: its listener noticed (stdin closed) and exited too.
  await eventually(
    "the orphaned listener to exit",
    () => Promise.resolve(alive(lastPid) ? undefined : true),
  );
});

// ---- raw HTTP/2 frames, so the abuse does not depend on a client library's manners ----

const enc = new TextEncoder();

function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array = new Uint8Array(),
) {
  const out = new Uint8Array(9 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length << 8);
  out[3] = type;
  out[4] = flags;
  view.setUint32(5, stream & 0x7fffffff);
  out.set(payload, 9);
  return out;
}

/** A HEADERS frame (END_HEADERS) with literal, never-indexed fields. */
function headers(stream: number, path: string, endStream = false) {
  const fields: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
  const block: number[] = [];
  for (const [name, value] of fields) {
    block.push(0x10, name.length, ...enc.encode(name), value.length, ...enc.encode(value));
  }
  return frame(0x1, 0x4 | (endStream ? 0x1 : 0), stream, new Uint8Array(block));
}

const u32 = (...ns: number[]) => {
  const out = new Uint8Array(4 * ns.length);
  ns.forEach((n, i) => new DataView(out.buffer).setUint32(4 * i, n));
  return out;
};
const preface = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const settings = frame(0x4, 0, 0);
const start = "/kagzi.v1.WorkflowService/StartWorkflow";
const register = "/kagzi.v1.WorkerService/Register";
// A gRPC message prefix announcing 100 bytes, followed by only 3 of them.
const partial = frame(0x0, 0, 1, new Uint8Array([0, 0, 0, 0, 100, 1, 2, 3]));
const rst = (stream: number) => frame(0x3, 0, stream, u32(8));
const goaway = (last: number, code: number) => frame(0x7, 0, 0, u32(last, code));

/** Hostile sessions: each a list of writes on a fresh connection, then an abrupt close. */
const scenarios: Uint8Array[][] = [
  [preface, settings, headers(1, start), partial, rst(1)],
  [preface, settings, headers(1, start), partial, goaway(0, 2)],
  [preface, settings, ...[1, 3, 5, 7, 9, 11].map((s) => headers(s, register)), goaway(1, 0)],
  [preface, settings, headers(1, start), goaway(0, 0), headers(3, start), rst(3)],
  [preface, settings, headers(1, register, true)], // closed before the answer
  [preface, settings, headers(1, start), partial, partial, partial],
  [preface, settings, frame(0x0, 0x1, 9, u32(1))], // DATA on a stream never opened
  [preface, enc.encode("not http/2 at all\r\n\r\n")],
  [preface, settings, headers(1, start), goaway(0x7fffffff, 11), goaway(0, 1), rst(1)],
];

/** A seeded generator (mulberry32), so a failing abuse run can be replayed with its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const abuseSeed = Number(Deno.env.get("KAGZI_ABUSE_SEED") ?? Date.now() % 2 ** 31);
const random = seeded(abuseSeed);

async function abuse(port: number, writes: Uint8Array[]) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined);
  if (!conn) return;
  try {
    for (const w of writes) {
      await conn.write(w);
      if (random() < 0.3) await sleep(random() * 5);
    }
    // Sometimes read a little of the answer first, sometimes not.
    if (random() < 0.5) {
      await Promise.race([conn.read(new Uint8Array(256)), sleep(20)]).catch(() => {});
    }
  } catch { /* the listener hung up first: fine */ }
  try {
    conn.close();
  } catch { /* already closed */ }
}

Deno.test(`hostile HTTP/2 clients on the gRPC port never disturb the server (${backend})`, async () => {
  console.log(`abuse seed ${abuseSeed} (replay with KAGZI_ABUSE_SEED=${abuseSeed})`);
  await using server = await startTestServer(backend);
  // Healthy first, then the same listener process all along: a crash and restart is a disturbance.
  assert.equal(await eventually("native gRPC to answer", () => grpcHealthy(server)), true);
  const listeners = listenerPids(server.pid);
  assert.equal(listeners.length, 1, `one listener process: ${listeners}`);
  const traffic = await connectTraffic(server);
  // Well-behaved gRPC clients that give up mid-call (RST_STREAM from @grpc/grpc-js).
  const impatient = async () => {
    const client = new grpc.Client(
      `127.0.0.1:${server.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    const req = toBinary(
      RegisterRequestSchema,
      create(RegisterRequestSchema, { workflowTypes: [{ workflowType: "x" }] }),
    );
    await Promise.all(
      [1, 2, 5, 10, 20].map((ms) =>
        new Promise((resolve) =>
          client.makeUnaryRequest(
            register,
            () => Buffer.from(req),
            (b: Buffer) => b,
            {},
            new grpc.Metadata(),
            { deadline: Date.now() + ms },
            resolve,
          )
        )
      ),
    );
    client.close();
  };
  for (let round = 0; round < 15; round++) {
    await Promise.all([
      ...scenarios.map((s) => abuse(server.grpcPort, s)),
      impatient(),
    ]);
  }
  const completed = await traffic.stop();
  assert.ok(completed >= 1, "Connect kept running workflows during the abuse");
  assert.ok(alive(server.pid), "the server process is alive");
  assert.deepEqual(
    listenerPids(server.pid),
    listeners,
    // What the server said of its listener, for a failure to tell why.
    "the listener never crashed or restarted; the server's lines about it:\n" +
      server.output().split("\n").filter((l) => /listener|gRPC/i.test(l)).join("\n"),
  );
  assert.equal(await grpcHealthy(server), true);
  assert.doesNotMatch(server.output(), /native gRPC listener .* exited/);
  const viaGrpc = await Kagzi.connect(server.grpcUrl, { protocol: "grpc" });
  const worker = await Worker.builder(server.url).workflows({ chain }).build();
  const running = worker.run();
  try {
    const run = await viaGrpc.start("chain").input({ n: 1 });
    assert.equal(await run.result({ timeout: "20s" }), 4);
  } finally {
    await worker.shutdown();
    await running;
  }
});
